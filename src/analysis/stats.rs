//! Statistics: per method, per server endpoint, per client→server edge and
//! per connection; an error timeline by origin; counts of every problem
//! noted. Streaming aggregates in bounded memory (histograms, not samples).

use super::histogram::Histogram;
use super::hops::Hops;
use super::pipeline::{CaptureCounters, ConnReport, Flow, Sink, CONTINUE};
use crate::filter::Filter;
use crate::grpc::{Call, GrpcEvent, Origin};
use crate::h2::H2Event;
use crate::notes::NoteCode;
use crate::tcp::ConnId;
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Aggregates of a group of calls.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Calls.
    pub calls: u64,
    /// OK.
    pub ok: u64,
    /// Failed calls by status name.
    pub errors: BTreeMap<String, u64>,
    /// Failed by the application.
    pub application: u64,
    /// Failed by the transport.
    pub transport: u64,
    /// Status unreadable.
    pub unknown: u64,
    /// Not finished when the capture ended.
    pub incomplete: u64,
    /// Durations of calls whose end was seen.
    pub latency: Histogram,
    /// Request messages.
    pub request_messages: u64,
    /// Response messages.
    pub response_messages: u64,
    /// Request DATA bytes.
    pub request_bytes: u64,
    /// Response DATA bytes.
    pub response_bytes: u64,
}

impl Group {
    fn add(&mut self, call: &Call, origin: Origin) {
        self.calls += 1;
        match origin {
            Origin::Application => self.application += 1,
            Origin::Transport => self.transport += 1,
            Origin::Unknown => self.unknown += 1,
            Origin::None if call.end.is_none() => self.incomplete += 1,
            Origin::None => self.ok += 1,
        }
        if matches!(origin, Origin::Application | Origin::Transport) {
            *self.errors.entry(call.effective_status().unwrap_or("UNKNOWN").to_string()).or_default() += 1;
        }
        if let Some(d) = call.duration_nanos() {
            self.latency.record(d);
        }
        self.request_messages += call.requests.len() as u64;
        self.response_messages += call.responses.len() as u64;
        self.request_bytes += call.bytes[0];
        self.response_bytes += call.bytes[1];
    }

    /// Adds another group's calls to this one.
    pub fn merge(&mut self, other: &Group) {
        self.calls += other.calls;
        self.ok += other.ok;
        for (status, n) in &other.errors {
            *self.errors.entry(status.clone()).or_default() += n;
        }
        self.application += other.application;
        self.transport += other.transport;
        self.unknown += other.unknown;
        self.incomplete += other.incomplete;
        self.latency.merge(&other.latency);
        self.request_messages += other.request_messages;
        self.response_messages += other.response_messages;
        self.request_bytes += other.request_bytes;
        self.response_bytes += other.response_bytes;
    }

    /// Failed calls (application + transport).
    pub fn failed(&self) -> u64 {
        self.application + self.transport
    }
}

/// Errors in one second of capture time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Second {
    /// Calls that started in it.
    pub calls: u64,
    /// Calls that ended in it failed by the application.
    pub application: u64,
    /// ... by the transport.
    pub transport: u64,
    /// ... with an unreadable status.
    pub unknown: u64,
}

/// Which breakdowns besides per-method to collect. Per-connection and
/// per-client groups grow with the number of connections in the capture,
/// so a command collects only the one it prints.
#[derive(Debug, Clone, Copy)]
pub struct Breakdowns {
    /// `by_server`.
    pub server: bool,
    /// `by_edge`.
    pub edge: bool,
    /// `by_conn`.
    pub conn: bool,
}

impl Default for Breakdowns {
    fn default() -> Self {
        Breakdowns { server: true, edge: true, conn: true }
    }
}

/// What the TLS connections of a capture came to.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct TlsStats {
    /// TLS connections.
    pub connections: u64,
    /// Those whose records were decrypted.
    pub decrypted: u64,
    /// Those that carried encrypted data grpcscope could not read.
    pub undecrypted: u64,
    /// Fatal alerts by sender and name (`client sent unknown_ca`): failed
    /// handshakes, an infrastructure failure no call shows.
    pub fatal_alerts: BTreeMap<String, u64>,
}

impl TlsStats {
    fn merge(&mut self, other: TlsStats) {
        self.connections += other.connections;
        self.decrypted += other.decrypted;
        self.undecrypted += other.undecrypted;
        for (alert, n) in other.fatal_alerts {
            *self.fatal_alerts.entry(alert).or_default() += n;
        }
    }

    fn add(&mut self, tls: &crate::tls::TlsSummary) {
        self.connections += 1;
        if tls.decryption == crate::tls::Decryption::Decrypted {
            self.decrypted += 1;
        } else if tls.undecrypted() {
            self.undecrypted += 1;
        }
        for a in tls.fatal_alerts() {
            *self.fatal_alerts.entry(format!("{} sent {}", a.from, a.description)).or_default() += 1;
        }
    }
}

/// Everything `stats` prints.
#[derive(Default)]
pub struct Stats {
    /// Only calls matching this count.
    pub filter: Option<Filter>,
    /// Which optional breakdowns to collect.
    pub breakdowns: Breakdowns,
    /// All calls together.
    pub total: Group,
    /// By method.
    pub by_method: BTreeMap<String, Group>,
    /// By server endpoint.
    pub by_server: BTreeMap<SocketAddr, Group>,
    /// By client host → server endpoint.
    pub by_edge: BTreeMap<(IpAddr, SocketAddr), Group>,
    /// By connection: (client, server, group).
    pub by_conn: BTreeMap<ConnId, (SocketAddr, SocketAddr, Group)>,
    /// Errors per second.
    pub timeline: BTreeMap<i64, Second>,
    /// Problems noted on frames and calls, by code.
    pub problems: BTreeMap<NoteCode, u64>,
    /// Connections seen, by how they ended.
    pub connections: BTreeMap<String, u64>,
    /// Established connections.
    pub established: u64,
    /// TLS connections: how many were decrypted, and why handshakes failed.
    pub tls: TlsStats,
    /// Cross-hop pairing.
    pub hops: Hops,
    /// First and last call start.
    pub span: Option<(Timestamp, Timestamp)>,
    /// Packet counters, set when the capture ends.
    pub capture: CaptureCounters,
    /// Connections still open (set by the caller before printing: a live
    /// capture's connections are counted above only once they end).
    pub open_connections: u64,
    /// The named hosts of the connections (at most [`MAX_NAMED_HOSTS`]).
    pub names: BTreeMap<IpAddr, std::sync::Arc<crate::names::Name>>,
}

/// Named hosts `stats` lists at most.
pub const MAX_NAMED_HOSTS: usize = 10_000;

fn merge_counts<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

fn merge_groups<K: Ord>(into: &mut BTreeMap<K, Group>, from: BTreeMap<K, Group>) {
    for (k, g) in from {
        match into.get_mut(&k) {
            Some(mine) => mine.merge(&g),
            None => {
                into.insert(k, g);
            }
        }
    }
}

impl Stats {
    /// Adds the statistics of another capture, or of another shard of this
    /// one, its connections renumbered by `conn_id` (after the connections
    /// of the captures before it; a shard's, from packet numbers to the
    /// order they opened in). The figures do not depend on how the calls
    /// were split.
    pub fn merge(&mut self, other: Stats, conn_id: &dyn Fn(ConnId) -> ConnId) {
        self.total.merge(&other.total);
        merge_groups(&mut self.by_method, other.by_method);
        merge_groups(&mut self.by_server, other.by_server);
        merge_groups(&mut self.by_edge, other.by_edge);
        for (conn, row) in other.by_conn {
            self.by_conn.insert(conn_id(conn), row);
        }
        for (sec, s) in other.timeline {
            let mine = self.timeline.entry(sec).or_default();
            mine.calls += s.calls;
            mine.application += s.application;
            mine.transport += s.transport;
            mine.unknown += s.unknown;
        }
        merge_counts(&mut self.problems, other.problems);
        merge_counts(&mut self.connections, other.connections);
        self.established += other.established;
        self.tls.merge(other.tls);
        self.hops.merge(other.hops, conn_id);
        self.span = match (self.span, other.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (mine, theirs) => mine.or(theirs),
        };
        self.capture.merge(&other.capture);
        self.open_connections += other.open_connections;
        for (ip, name) in other.names {
            if self.names.len() < MAX_NAMED_HOSTS {
                self.names.entry(ip).or_insert(name);
            }
        }
    }

    /// Adds one finished call.
    pub fn add_call(&mut self, call: &Call) {
        // Counted once where they happen (the connection, the frame), not
        // again on the calls they touched.
        let elsewhere =
            [NoteCode::RetransmitConflict, NoteCode::HeaderListLimit, NoteCode::StreamIdReused, NoteCode::EvenStream];
        for n in call.notes.iter().filter(|n| !elsewhere.contains(&n.code)) {
            *self.problems.entry(n.code).or_default() += 1;
        }
        if self.filter.as_ref().is_some_and(|f| !f.matches(call)) {
            return;
        }
        let origin = call.verdict().0;
        self.total.add(call, origin);
        // Looked up by &str first: a String is made once per method, not per call.
        let lossy;
        let method = match call.method_str() {
            Some(m) => m,
            None => {
                // Calls sharing an unknown `:path` entry share a method: one row
                // ("method ?dyn#3 (conn 1)"), even without its name.
                lossy = call.method().unwrap_or_else(|| match call.method_key() {
                    Some(k) => format!("{k} (conn {})", call.conn),
                    None => "(method unknown)".into(),
                });
                &lossy
            }
        };
        match self.by_method.get_mut(method) {
            Some(g) => g.add(call, origin),
            None => self.by_method.entry(method.to_string()).or_default().add(call, origin),
        }
        if self.breakdowns.server {
            self.by_server.entry(call.server).or_default().add(call, origin);
        }
        if self.breakdowns.edge {
            self.by_edge.entry((call.client.ip(), call.server)).or_default().add(call, origin);
        }
        if self.breakdowns.conn {
            self.by_conn
                .entry(call.conn)
                .or_insert_with(|| (call.client, call.server, Group::default()))
                .2
                .add(call, origin);
        }
        let second = self.timeline.entry(call.start.secs()).or_default();
        second.calls += 1;
        if let Some(end) = call.end.filter(|_| origin != Origin::None) {
            let s = self.timeline.entry(end.secs()).or_default();
            match origin {
                Origin::Application => s.application += 1,
                Origin::Transport => s.transport += 1,
                _ => s.unknown += 1,
            }
        }
        self.span = Some(self.span.map_or((call.start, call.start), |(a, b)| (a.min(call.start), b.max(call.start))));
        self.hops.add_call(call);
    }
}

impl Sink for Stats {
    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        if let H2Event::Frame(f) = ev {
            for n in &f.notes {
                *self.problems.entry(n.code).or_default() += 1;
            }
        }
        CONTINUE
    }

    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        if let GrpcEvent::Finished(call) = ev {
            self.add_call(&call);
        }
        CONTINUE
    }

    fn connection(&mut self, c: ConnReport) -> Flow {
        let end = serde_json::to_value(c.tcp.end)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
            .unwrap_or_default();
        *self.connections.entry(end).or_default() += 1;
        for (_, ip, n) in c.named_hosts() {
            if self.names.len() < MAX_NAMED_HOSTS {
                self.names.entry(ip).or_insert_with(|| n.clone());
            }
        }
        if c.tcp.established {
            self.established += 1;
        }
        if let Some(tls) = &c.tls {
            self.tls.add(tls);
        }
        for d in &c.tcp.dirs {
            if d.buffer_overflows > 0 {
                *self.problems.entry(NoteCode::ReassemblyBufferFull).or_default() += u64::from(d.buffer_overflows);
            }
            if d.gaps > 0 {
                *self.problems.entry(NoteCode::TcpGap).or_default() += u64::from(d.gaps);
            }
            if d.bad_checksums > 0 {
                *self.problems.entry(NoteCode::BadChecksum).or_default() += u64::from(d.bad_checksums);
            }
            if d.hold_expired > 0 {
                *self.problems.entry(NoteCode::ReorderHoldExpired).or_default() += u64::from(d.hold_expired);
            }
            if d.retransmit_conflicts > 0 {
                *self.problems.entry(NoteCode::RetransmitConflict).or_default() += u64::from(d.retransmit_conflicts);
            }
            if d.rst_outside_window > 0 {
                *self.problems.entry(NoteCode::RstOutsideWindow).or_default() += u64::from(d.rst_outside_window);
            }
        }
        if matches!(c.tcp.end, crate::tcp::EndReason::Evicted) {
            *self.problems.entry(NoteCode::FlowTableFull).or_default() += 1;
        }
        self.hops.add_conn(&c);
        CONTINUE
    }
}
