//! `grpcscope doctor`: findings an SRE can act on.
//!
//! The [`Doctor`] sink keeps a compact fact per call and per connection
//! (never the calls' bytes), and when the capture ends [`rules`] turn the
//! facts into [`Finding`]s: what is wrong, how bad, the connections, calls
//! and packets that show it, why it happens and what to change. Each rule,
//! with its thresholds, is listed in docs/doctor.md.

pub mod rules;
#[cfg(test)]
mod tests;
pub mod watch;

use super::hops::Hops;
use super::method_names::MethodNames;
use super::pipeline::{CaptureCounters, ConnReport, Flow, Sink, CONTINUE};
use crate::grpc::{Call, GrpcEvent, Origin, TransportKind};
use crate::h2::frame::Body;
use crate::h2::H2Event;
use crate::tcp::{ConnId, Side};
use crate::time::Timestamp;
use ahash::AHashMap;
use serde::Serialize;
use std::sync::Arc;

/// Ids listed per finding at most (the count says how many there were);
/// the rules and the watchers both keep evidence up to it.
pub const MAX_EVIDENCE: usize = 10;
/// Calls remembered at most; later ones are counted, not analysed (a
/// finding says so).
pub const MAX_CALLS: usize = 2_000_000;
/// Connections remembered at most, likewise.
pub const MAX_CONNS: usize = 500_000;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Calls failed because of it.
    Error,
    /// Calls are at risk, or slower than they need be.
    Warning,
    /// Worth knowing when reading the rest: what the capture could not show.
    Info,
}

impl Severity {
    /// Its name, upper case, for text output.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
            Severity::Info => "INFO",
        }
    }
}

/// What a finding is about: one per rule of docs/doctor.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A proxy answered 504 or gave up on its upstream, at one duration.
    ProxyTimeout,
    /// A proxy could not reach its upstream (502/503, a refused connection).
    UpstreamUnavailable,
    /// Connection attempts refused or never answered.
    ConnectFailed,
    /// Calls ended by their deadline; deadlines shorter than the method takes.
    DeadlineExceeded,
    /// A channel reconnected repeatedly.
    ConnectionChurn,
    /// GOAWAY ENHANCE_YOUR_CALM: the server found the client's pings abusive.
    TooManyPings,
    /// Keepalive pings a C-core or grpc-go server would answer with too_many_pings.
    KeepaliveTooFrequent,
    /// Another GOAWAY with an error code.
    GoawayError,
    /// Many streams reset by the client: the Rapid Reset pattern.
    RapidReset,
    /// Calls waited for a stream: the server's MAX_CONCURRENT_STREAMS was reached.
    StreamLimit,
    /// A sender waited at a zero flow-control window.
    FlowControlStall,
    /// A TLS handshake failed (a fatal alert, or an inferred rejection).
    TlsHandshakeFailed,
    /// TLS connections without keys: their calls are not in the capture's results.
    TlsNotDecrypted,
    /// UNIMPLEMENTED answers: a method or service the server does not have.
    Unimplemented,
    /// A compression the peer does not accept.
    CompressionRejected,
    /// Messages near the 4 MiB default limit, or refused for size.
    LargeMessages,
    /// Calls that were retries (`grpc-previous-rpc-attempts`).
    Retries,
    /// A service's calls pinned to some replicas by connection-level balancing.
    L4Balancing,
    /// TCP retransmissions concentrated on a connection.
    Retransmissions,
    /// TCP or TLS handshakes that took long.
    SlowHandshake,
    /// Calls whose outcome the capture does not hold.
    StatusLost,
    /// TCP bytes the capture never got: messages or frames are incomplete.
    CaptureLoss,
    /// More calls or connections than the doctor keeps: the rest was not analysed.
    NotAnalysed,
}

impl Rule {
    /// Every rule, in the order docs/doctor.md lists them.
    pub const ALL: [Rule; 23] = [
        Rule::ProxyTimeout,
        Rule::UpstreamUnavailable,
        Rule::ConnectFailed,
        Rule::DeadlineExceeded,
        Rule::ConnectionChurn,
        Rule::TooManyPings,
        Rule::KeepaliveTooFrequent,
        Rule::GoawayError,
        Rule::RapidReset,
        Rule::StreamLimit,
        Rule::FlowControlStall,
        Rule::TlsHandshakeFailed,
        Rule::TlsNotDecrypted,
        Rule::Unimplemented,
        Rule::CompressionRejected,
        Rule::LargeMessages,
        Rule::Retries,
        Rule::L4Balancing,
        Rule::Retransmissions,
        Rule::SlowHandshake,
        Rule::StatusLost,
        Rule::CaptureLoss,
        Rule::NotAnalysed,
    ];

    /// Its name, as JSON writes it (`proxy_timeout`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::ProxyTimeout => "proxy_timeout",
            Rule::UpstreamUnavailable => "upstream_unavailable",
            Rule::ConnectFailed => "connect_failed",
            Rule::DeadlineExceeded => "deadline_exceeded",
            Rule::ConnectionChurn => "connection_churn",
            Rule::TooManyPings => "too_many_pings",
            Rule::KeepaliveTooFrequent => "keepalive_too_frequent",
            Rule::GoawayError => "goaway_error",
            Rule::RapidReset => "rapid_reset",
            Rule::StreamLimit => "stream_limit",
            Rule::FlowControlStall => "flow_control_stall",
            Rule::TlsHandshakeFailed => "tls_handshake_failed",
            Rule::TlsNotDecrypted => "tls_not_decrypted",
            Rule::Unimplemented => "unimplemented",
            Rule::CompressionRejected => "compression_rejected",
            Rule::LargeMessages => "large_messages",
            Rule::Retries => "retries",
            Rule::L4Balancing => "l4_balancing",
            Rule::Retransmissions => "retransmissions",
            Rule::SlowHandshake => "slow_handshake",
            Rule::StatusLost => "status_lost",
            Rule::CaptureLoss => "capture_loss",
            Rule::NotAnalysed => "not_analysed",
        }
    }
}

/// A call named as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CallRef {
    /// Its number, as `calls` lists them and `explain --call` takes it.
    pub call: usize,
    /// Connection.
    pub conn: ConnId,
    /// Stream.
    pub stream: u32,
}

/// What shows a finding: ids every other command accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// Connections (`conns`, `--filter 'conn == N'`, `explain --conn N`).
    pub conns: Vec<ConnId>,
    /// Calls (`explain --call N`).
    pub calls: Vec<CallRef>,
    /// Packet numbers of the frames that show it (as tshark numbers them).
    pub packets: Vec<u64>,
    /// How many items the finding covers in all (the lists above stop at
    /// [`MAX_EVIDENCE`]).
    pub count: u64,
    /// The names of the hosts of those connections, where known
    /// (`--names`, `--k8s`, DNS answers in the capture).
    pub names: Vec<NamedHost>,
}

/// A host of the evidence, and its name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedHost {
    /// Its address.
    pub address: std::net::IpAddr,
    /// Its name.
    pub name: Arc<crate::names::Name>,
}

/// One finding: the record printed as text and as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Which rule found it.
    pub rule: Rule,
    /// How much it matters.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What shows it.
    pub evidence: Evidence,
    /// Why it happens, in a paragraph.
    pub explanation: String,
    /// What to change.
    pub advice: String,
    /// The finding rests on an inference (its explanation says from what),
    /// not on a decoded fact.
    pub inference: bool,
}

/// What the doctor remembers of one call.
#[derive(Debug, Clone)]
pub struct CallFact {
    /// Connection.
    pub conn: ConnId,
    /// Stream.
    pub stream: u32,
    /// Server endpoint.
    pub server: std::net::SocketAddr,
    /// Method, shared between calls.
    pub method: Option<Arc<str>>,
    /// Start.
    pub start: Timestamp,
    /// Start to end, when the end was seen.
    pub duration: Option<i64>,
    /// The status a client saw (a transport failure's implied one).
    pub status: Option<&'static str>,
    /// Who produced a failure.
    pub origin: Origin,
    /// The transport failure's kind.
    pub transport: Option<TransportKind>,
    /// `:status`, when not 200.
    pub http_status: Option<u16>,
    /// The client's deadline (`grpc-timeout`).
    pub timeout: Option<u64>,
    /// Who reset the stream.
    pub rst_by: Option<Side>,
    /// The largest message each way (client's, server's), in bytes.
    pub largest: [u32; 2],
    /// `grpc-previous-rpc-attempts`.
    pub previous_attempts: Option<u32>,
    /// The status message mentions compression or encoding.
    pub about_compression: bool,
    /// The status message says a message was too large.
    pub about_size: bool,
    /// The packet that decided the outcome (the trailers, the answer, the reset).
    pub packet: u64,
    /// The end was never seen.
    pub incomplete: bool,
}

/// Per connection: what frames showed that the connection report does not count.
#[derive(Debug, Clone, Default)]
pub struct FrameFacts {
    /// RST_STREAM frames each side sent (client's, server's).
    pub resets: [u64; 2],
    /// Packets of the client's first RST_STREAM frames.
    pub reset_packets: Vec<u64>,
    /// Packets of GOAWAY frames.
    pub goaway_packets: Vec<u64>,
    /// Streams against the server's concurrency limit.
    pub stream_limit: watch::StreamLimitWatch,
    /// Senders waiting at a zero flow-control window.
    pub stalls: watch::StallWatch,
    /// The client's keepalive pings.
    pub pings: watch::PingWatch,
}

/// Everything the rules read.
#[derive(Default)]
pub struct Facts {
    /// Calls, in the order they ended.
    pub calls: Vec<CallFact>,
    /// Calls past [`MAX_CALLS`].
    pub calls_dropped: u64,
    /// Connection reports.
    pub conns: Vec<ConnReport>,
    /// Connections past [`MAX_CONNS`].
    pub conns_dropped: u64,
    /// Frame facts per connection.
    pub frames: AHashMap<ConnId, FrameFacts>,
    /// Cross-hop pairing.
    pub hops: Hops,
    /// Packet counters, set when the capture ends.
    pub capture: CaptureCounters,
}

/// The sink of `grpcscope doctor`.
#[derive(Default)]
pub struct Doctor {
    /// Only calls matching this are examined.
    pub filter: Option<crate::filter::Filter>,
    /// What was collected.
    pub facts: Facts,
    methods: MethodNames,
    /// Another sink pairs the hops (the terminal UI's statistics see the
    /// same calls and connections): this one leaves `facts.hops` empty, and
    /// whoever calls [`Doctor::findings`] lends it theirs.
    pub hops_elsewhere: bool,
}

impl Doctor {
    /// A doctor that examines the calls `filter` matches (all without one).
    pub fn new(filter: Option<crate::filter::Filter>) -> Self {
        Doctor { filter, ..Default::default() }
    }

    /// The findings, most severe first.
    pub fn findings(&mut self) -> Vec<Finding> {
        rules::run(&mut self.facts)
    }

    /// A doctor whose hops another sink pairs ([`Doctor::hops_elsewhere`]).
    pub fn lending_hops() -> Self {
        Doctor { hops_elsewhere: true, ..Doctor::default() }
    }

    /// Remembers one finished call.
    pub fn add_call(&mut self, call: &Call) {
        if self.filter.as_ref().is_some_and(|f| !f.matches(call)) {
            return;
        }
        if !self.hops_elsewhere {
            self.facts.hops.add_call(call);
        }
        if self.facts.calls.len() >= MAX_CALLS {
            self.facts.calls_dropped += 1;
            return;
        }
        let fact = self.fact(call);
        self.facts.calls.push(fact);
    }

    fn fact(&mut self, call: &Call) -> CallFact {
        let (origin, transport) = call.verdict();
        let message = call.grpc_message().unwrap_or_default().to_ascii_lowercase();
        let largest = |m: &[crate::grpc::Message]| m.iter().map(|m| m.length).max().unwrap_or(0);
        CallFact {
            conn: call.conn,
            stream: call.stream_id,
            server: call.server,
            method: self.methods.of(call),
            start: call.start,
            duration: call.duration_nanos(),
            status: call.effective_status(),
            origin,
            transport: transport.map(|t| t.kind),
            http_status: call.http_status().filter(|s| *s != 200),
            timeout: call.timeout_nanos(),
            rst_by: call.rst.map(|r| r.from),
            largest: [largest(&call.requests), largest(&call.responses)],
            previous_attempts: call.previous_attempts(),
            about_compression: message.contains("compress") || message.contains("encoding"),
            about_size: call.status_says_too_large(),
            packet: call.outcome_packet(),
            incomplete: call.end.is_none() && call.rst.is_none(),
        }
    }

    /// Reads one HTTP/2 frame (the Sink does this for `H2Event::Frame`).
    pub fn add_frame(&mut self, f: &crate::h2::Frame) {
        if !self.facts.frames.contains_key(&f.conn) && self.facts.frames.len() >= MAX_CONNS {
            return;
        }
        let facts = self.facts.frames.entry(f.conn).or_default();
        facts.stream_limit.frame(f);
        facts.stalls.frame(f);
        facts.pings.frame(f);
        let from = f.dir.sender();
        match f.body {
            Body::RstStream { .. } => {
                let i = usize::from(from == Side::Server);
                if let Some(n) = facts.resets.get_mut(i) {
                    *n += 1;
                }
                if from == Side::Client && facts.reset_packets.len() < MAX_EVIDENCE {
                    facts.reset_packets.push(f.packet);
                }
            }
            Body::GoAway { .. } if facts.goaway_packets.len() < MAX_EVIDENCE => {
                facts.goaway_packets.push(f.packet);
            }
            _ => {}
        }
    }
}

/// A request header's value as a number.
impl Sink for Doctor {
    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        if let H2Event::Frame(f) = ev {
            self.add_frame(f);
        }
        CONTINUE
    }

    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        if let GrpcEvent::Finished(call) = ev {
            self.add_call(&call);
        }
        CONTINUE
    }

    fn connection(&mut self, mut c: ConnReport) -> Flow {
        if !self.hops_elsewhere {
            self.facts.hops.add_conn(&c);
        }
        if self.facts.conns.len() >= MAX_CONNS {
            self.facts.conns_dropped += 1;
            return CONTINUE;
        }
        // The rules read GOAWAYs and counts, not every PING and SETTINGS.
        if let Some(h2) = c.h2.as_mut() {
            h2.pings = Vec::new();
            h2.client_settings = Vec::new();
            h2.server_settings = Vec::new();
        }
        self.facts.conns.push(c);
        CONTINUE
    }
}
