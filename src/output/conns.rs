//! `grpcscope conns`: one record per TCP connection.

use super::text::{human_bytes, or_dash};
use super::{write_json_line, Format};
use crate::analysis::pipeline::ConnReport;
use crate::analysis::Sink;
use crate::tcp::{ConnSummary, EndReason, HalfStats};
use crate::time::{human_duration, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The JSON record of one connection.
#[derive(Debug, Serialize)]
pub struct ConnRecord<'a> {
    /// Number in the capture.
    pub id: u64,
    /// `ip:port` of the client.
    pub client: String,
    /// `ip:port` of the server.
    pub server: String,
    /// How the roles were decided.
    pub roles_from: crate::tcp::RoleEvidence,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// The handshake, when it was captured.
    pub handshake: Option<Handshake>,
    /// Client to server counters.
    pub client_to_server: &'a HalfStats,
    /// Server to client counters.
    pub server_to_client: &'a HalfStats,
    /// How it ended.
    pub end: &'a EndReason,
    /// When it ended.
    pub end_ts: Timestamp,
    /// The end as a sentence.
    pub end_text: String,
}

/// TCP handshake timing.
#[derive(Debug, Serialize)]
pub struct Handshake {
    /// SYN.
    pub syn: Option<Timestamp>,
    /// SYN-ACK.
    pub syn_ack: Option<Timestamp>,
    /// ACK.
    pub ack: Option<Timestamp>,
    /// SYN to ACK in milliseconds.
    pub rtt_ms: Option<f64>,
}

impl<'a> ConnRecord<'a> {
    /// The record for `c`.
    pub fn new(c: &'a ConnSummary) -> Self {
        let handshake = c.syn_ts.map(|_| Handshake {
            syn: c.syn_ts,
            syn_ack: c.synack_ts,
            ack: c.ack_ts,
            rtt_ms: c.handshake_rtt_nanos().map(|n| n as f64 / 1e6),
        });
        ConnRecord {
            id: c.id,
            client: c.client.to_string(),
            server: c.server.to_string(),
            roles_from: c.roles_from,
            first_ts: c.first_ts,
            last_ts: c.last_ts,
            handshake,
            client_to_server: &c.dirs[0],
            server_to_client: &c.dirs[1],
            end: &c.end,
            end_ts: c.end_ts,
            end_text: c.end_text(),
        }
    }
}

/// Prints connections in id order (or as they finish, for live captures).
pub struct ConnsPrinter<W: Write> {
    out: W,
    format: Format,
    ordered: bool,
    pending: BTreeMap<u64, ConnReport>,
    next_id: u64,
    header_done: bool,
    /// The first write error (a closed pipe ends output quietly).
    pub error: Option<io::Error>,
}

/// Connections held back at most while waiting for an earlier one to finish.
const MAX_PENDING: usize = 100_000;

impl<W: Write> ConnsPrinter<W> {
    /// Prints to `out`; `ordered` holds records back to print them by id.
    pub fn new(out: W, format: Format, ordered: bool) -> Self {
        ConnsPrinter { out, format, ordered, pending: BTreeMap::new(), next_id: 1, header_done: false, error: None }
    }

    fn emit(&mut self, report: &ConnReport) {
        if self.error.is_some() {
            return;
        }
        let c = &report.tcp;
        let r = match self.format {
            Format::Json => write_json_line(&mut self.out, &ConnRecord::new(c)),
            Format::Text => self.text_line(c),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn text_line(&mut self, c: &ConnSummary) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            writeln!(
                self.out,
                "{:>4}  {:<21} {:<21} {:<15} {:>8} {:>9} {:>11} {:>19} {:>9}  END",
                "ID", "CLIENT", "SERVER", "START", "DURATION", "HANDSHAKE", "PACKETS c/s", "BYTES c/s", "GAPS"
            )?;
        }
        let [cs, sc] = &c.dirs;
        let gaps = cs.gap_bytes + sc.gap_bytes;
        writeln!(
            self.out,
            "{:>4}  {:<21} {:<21} {:<15} {:>8} {:>9} {:>11} {:>19} {:>9}  {}{}",
            c.id,
            c.client.to_string(),
            c.server.to_string(),
            c.first_ts.clock(),
            human_duration(c.last_ts.nanos_since(c.first_ts)),
            or_dash(c.handshake_rtt_nanos().map(human_duration)),
            format!("{}/{}", cs.packets, sc.packets),
            format!("{}/{}", human_bytes(cs.bytes), human_bytes(sc.bytes)),
            if gaps == 0 { "-".to_string() } else { human_bytes(gaps) },
            c.end_text(),
            issues(c),
        )
    }

    /// Prints everything still held back (end of capture).
    pub fn flush(&mut self) {
        let rest = std::mem::take(&mut self.pending);
        for c in rest.values() {
            self.emit(c);
        }
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
    }

    /// In text mode, a closing line: how many connections, packets, and what
    /// was ignored (non-TCP traffic is counted, not decoded).
    pub fn footer(&mut self, counters: &crate::analysis::CaptureCounters, connections: u64) {
        if self.format != Format::Text || self.error.is_some() {
            return;
        }
        let ignored: Vec<String> = counters.ignored.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let mut line =
            format!("{connections} connection(s); {} packets, {} TCP", counters.packets, counters.tcp_packets);
        if !ignored.is_empty() {
            line.push_str(&format!("; ignored: {}", ignored.join(", ")));
        }
        if counters.snaplen_cut > 0 {
            line.push_str(&format!("; {} packet(s) cut by the snaplen", counters.snaplen_cut));
        }
        if let Err(e) = writeln!(self.out, "{line}") {
            self.error = Some(e);
        }
    }

    /// The writer (tests read back what was printed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Retransmissions and reordering, mentioned only when present.
fn issues(c: &ConnSummary) -> String {
    let retx = c.dirs[0].retransmitted + c.dirs[1].retransmitted;
    let ooo = c.dirs[0].out_of_order + c.dirs[1].out_of_order;
    let mut parts = Vec::new();
    if retx > 0 {
        parts.push(format!("{retx} retransmitted"));
    }
    if ooo > 0 {
        parts.push(format!("{ooo} out of order"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

impl<W: Write> Sink for ConnsPrinter<W> {
    fn connection(&mut self, c: ConnReport) {
        if !self.ordered {
            self.emit(&c);
            return;
        }
        self.pending.insert(c.tcp.id, c);
        loop {
            let next = self.next_id;
            let Some(c) = self.pending.remove(&next) else {
                break;
            };
            self.emit(&c);
            self.next_id += 1;
        }
        // Bounded memory: a connection that stays open forever must not hold
        // back every later one.
        while self.pending.len() > MAX_PENDING {
            if let Some((id, c)) = self.pending.pop_first() {
                self.emit(&c);
                self.next_id = id + 1;
            }
        }
    }
}
