//! Channels and reconnects: connections grouped by client host and server
//! endpoint, and the connections that replaced one that had ended.

use super::pipeline::ConnReport;
use crate::tcp::{ConnId, Side};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// A connection that replaced an earlier one of its channel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reconnect {
    /// The earlier connection.
    pub reconnect_of: ConnId,
    /// From the end of the earlier connection to this one's first packet (SYN).
    pub gap_ms: f64,
    /// Why the earlier connection ended.
    pub previous_end: String,
}

/// Connections from one client host to one server endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    /// Client host.
    pub client: IpAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// Its connections in order of first packet.
    pub conns: Vec<ConnId>,
    /// Connections whose handshake completed (or were picked up mid-stream).
    pub established: u64,
    /// Established connections that replaced an earlier one.
    pub reconnects: u64,
    /// Attempts that got no connection (refused or unanswered).
    pub failed_attempts: u64,
    /// Connections a fatal TLS alert ended: failed handshakes (a wrong CA,
    /// a missing client certificate), the channel's TLS failures.
    pub tls_failures: u64,
}

/// When a connection stopped being usable: its end, or a GOAWAY from the
/// server before that (the client stops sending new calls on it then).
fn ended_at(c: &ConnReport) -> Timestamp {
    let goaway = c.h2.as_ref().and_then(|h| h.goaways.iter().filter(|g| g.from == Side::Server).map(|g| g.ts).min());
    let end = if c.tcp.end.is_closed() { c.tcp.end_ts } else { c.tcp.last_ts };
    goaway.map_or(end, |g| g.min(end))
}

/// Why a connection ended, with the GOAWAY that announced it if any.
pub fn why_ended(c: &ConnReport) -> String {
    let mut parts = Vec::new();
    if let Some(h) = &c.h2 {
        // A graceful shutdown sends two GOAWAYs (2^31-1, then the real last
        // stream): each side's last one says what it meant.
        for side in [Side::Server, Side::Client] {
            if let Some(g) = h.goaways.iter().rev().find(|g| g.from == side) {
                let mut s = format!("{} sent GOAWAY ({}, last stream {})", g.from, g.error_name, g.last_stream_id);
                if !g.debug.is_empty() {
                    s.push_str(&format!(" \"{}\"", g.debug));
                }
                parts.push(s);
            }
        }
    }
    // A fatal TLS alert is why a connection failed its handshake (or was
    // torn down): it names the cause the TCP close does not.
    if let Some(tls) = &c.tls {
        for a in tls.fatal_alerts() {
            parts.push(format!("{} sent TLS alert {}", a.from, a.description));
        }
        parts.extend(tls.probable_rejection().map(str::to_string));
        if c.tcp.end.is_closed() {
            parts.extend(tls.probable_tls13_failure());
        }
    }
    parts.push(c.tcp.end_text());
    parts.join("; then ")
}

/// Counts a connection as usable: established, or picked up mid-stream with data.
fn usable(c: &ConnReport) -> bool {
    c.tcp.established || (c.tcp.syn_ts.is_none() && c.tcp.dirs.iter().any(|d| d.bytes > 0))
}

/// A connection the server accepted and its client reset before either
/// sent a byte: a balancer's health check or a port probe (HAProxy's
/// `check`), not an attempt that failed.
fn probe(c: &ConnReport) -> bool {
    c.tcp.synack_ts.is_some()
        && matches!(c.tcp.end, crate::tcp::EndReason::Rst { by: Side::Client })
        && c.tcp.dirs.iter().all(|d| d.bytes == 0)
}

/// The usable connections seen so far, to ask which is the latest (in
/// order of first packet) that was done by a given time: a Fenwick tree of
/// prefix maxima over their end times, so a channel of a million
/// connections (a SYN flood, a pool that churns) costs n log n, not n².
struct DoneBefore {
    /// Every end time that will be inserted, sorted: a time's rank is its slot.
    ends: Vec<Timestamp>,
    /// Per slot, 1 + the largest index inserted in its Fenwick range (0: none).
    tree: Vec<usize>,
}

impl DoneBefore {
    fn new(mut ends: Vec<Timestamp>) -> Self {
        ends.sort_unstable();
        ends.dedup();
        let tree = vec![0; ends.len() + 1];
        DoneBefore { ends, tree }
    }

    /// Records that connection `index` (usable) was done at `ended`.
    fn insert(&mut self, ended: Timestamp, index: usize) {
        let mut slot = self.ends.partition_point(|e| *e < ended) + 1;
        while let Some(v) = self.tree.get_mut(slot) {
            *v = (*v).max(index + 1);
            slot += slot & slot.wrapping_neg();
        }
    }

    /// The largest index inserted whose end is at or before `t`.
    fn latest(&self, t: Timestamp) -> Option<usize> {
        let mut slot = self.ends.partition_point(|e| *e <= t);
        let mut best = 0;
        while slot > 0 {
            best = best.max(self.tree.get(slot).copied().unwrap_or(0));
            slot -= slot & slot.wrapping_neg();
        }
        best.checked_sub(1)
    }
}

/// Groups connections into channels and finds reconnects.
pub fn analyze<'a>(reports: impl IntoIterator<Item = &'a ConnReport>) -> (Vec<Channel>, BTreeMap<ConnId, Reconnect>) {
    let mut by_key: BTreeMap<(IpAddr, SocketAddr), Vec<&ConnReport>> = BTreeMap::new();
    for r in reports {
        by_key.entry((r.tcp.client.ip(), r.tcp.server)).or_default().push(r);
    }
    let mut channels = Vec::new();
    let mut reconnects = BTreeMap::new();
    for ((client, server), mut conns) in by_key {
        conns.sort_by_key(|c| (c.tcp.first_ts, c.tcp.id));
        let mut ch = Channel {
            client,
            server,
            conns: conns.iter().map(|c| c.tcp.id).collect(),
            established: 0,
            reconnects: 0,
            failed_attempts: 0,
            tls_failures: 0,
        };
        let mut done_before = DoneBefore::new(conns.iter().filter(|c| usable(c)).map(|c| ended_at(c)).collect());
        for (i, c) in conns.iter().enumerate() {
            if usable(c) {
                ch.established += 1;
            } else if !probe(c) {
                ch.failed_attempts += 1;
            }
            if c.tls.as_ref().is_some_and(|t| t.fatal_alerts().next().is_some()) {
                ch.tls_failures += 1;
            }
            // The latest earlier usable connection that was done when this one began.
            let previous = done_before.latest(c.tcp.first_ts).and_then(|j| conns.get(j));
            if usable(c) {
                done_before.insert(ended_at(c), i);
            }
            let Some(p) = previous else { continue };
            // A connection still carrying traffic after this one began is a
            // parallel one (a pool), not one being replaced.
            if p.tcp.last_ts > c.tcp.first_ts
                && !p.h2.as_ref().is_some_and(|h| h.goaways.iter().any(|g| g.from == Side::Server))
            {
                continue;
            }
            if usable(c) {
                ch.reconnects += 1;
            }
            let start = c.tcp.syn_ts.unwrap_or(c.tcp.first_ts);
            reconnects.insert(
                c.tcp.id,
                Reconnect {
                    reconnect_of: p.tcp.id,
                    gap_ms: start.nanos_since(ended_at(p)) as f64 / 1e6,
                    previous_end: why_ended(p),
                },
            );
        }
        channels.push(ch);
    }
    channels.sort_by_key(|c| c.conns.first().copied());
    (channels, reconnects)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree answers what the scan it replaced answered: the latest
    /// earlier entry whose end is at or before the time asked about.
    #[test]
    fn done_before_matches_a_scan() {
        // Ends that repeat, come out of order and straddle the queries.
        let ends: Vec<i64> = (0..500).map(|i: i64| (i * 7919) % 613).collect();
        let starts: Vec<i64> = (0..500).map(|i: i64| (i * 104_729) % 701).collect();
        let mut tree = DoneBefore::new(ends.iter().map(|e| Timestamp(*e)).collect());
        let mut found = 0;
        for (i, start) in starts.iter().enumerate() {
            let scan = ends.get(..i).unwrap_or(&[]).iter().rposition(|e| e <= start);
            assert_eq!(tree.latest(Timestamp(*start)), scan, "query {i} at {start}");
            found += usize::from(scan.is_some());
            tree.insert(Timestamp(ends[i]), i);
        }
        assert!(found > 400, "the queries mostly find one: {found}");
        assert_eq!(DoneBefore::new(Vec::new()).latest(Timestamp(5)), None);
    }
}
