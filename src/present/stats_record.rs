//! The output rows of `stats --format json`: one struct per kind of row,
//! serialized as is, fields in the order they are written.

use crate::analysis::hops::HopReport;
use crate::analysis::stats::{Group, Stats};
use crate::notes::NoteCode;
use crate::tcp::ConnId;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Milliseconds from nanoseconds, rounded to the microsecond.
fn ms(n: Option<f64>) -> Option<f64> {
    n.map(|v| (v / 1e3).round() / 1e3)
}

/// Latency percentiles of a group, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Shortest.
    pub min: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Longest.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Calls measured.
    pub samples: u64,
}

/// The figures of a group of calls.
#[derive(Debug, Clone, Serialize)]
pub struct GroupFields<'a> {
    /// Calls.
    pub calls: u64,
    /// Ended OK.
    pub ok: u64,
    /// Errors by status name.
    pub errors: &'a BTreeMap<String, u64>,
    /// Failed by the application.
    pub application_errors: u64,
    /// Failed by the transport.
    pub transport_errors: u64,
    /// Status unreadable.
    pub unknown: u64,
    /// Still open at the end.
    pub incomplete: u64,
    /// Latency.
    pub latency_ms: Latency,
    /// Client messages.
    pub request_messages: u64,
    /// Server messages.
    pub response_messages: u64,
    /// Client bytes.
    pub request_bytes: u64,
    /// Server bytes.
    pub response_bytes: u64,
}

impl<'a> From<&'a Group> for GroupFields<'a> {
    fn from(g: &'a Group) -> Self {
        let l = &g.latency;
        GroupFields {
            calls: g.calls,
            ok: g.ok,
            errors: &g.errors,
            application_errors: g.application,
            transport_errors: g.transport,
            unknown: g.unknown,
            incomplete: g.incomplete,
            latency_ms: Latency {
                min: ms(l.min().map(|v| v as f64)),
                p50: ms(l.percentile(50.0)),
                p90: ms(l.percentile(90.0)),
                p99: ms(l.percentile(99.0)),
                max: ms(l.max().map(|v| v as f64)),
                mean: ms(l.mean()),
                samples: l.count(),
            },
            request_messages: g.request_messages,
            response_messages: g.response_messages,
            request_bytes: g.request_bytes,
            response_bytes: g.response_bytes,
        }
    }
}

/// The first row: the whole capture.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow<'a> {
    /// `summary`.
    pub section: &'static str,
    /// All calls.
    #[serde(flatten)]
    pub group: GroupFields<'a>,
    /// Packets read.
    pub packets: u64,
    /// Packets with a TCP segment.
    pub tcp_packets: u64,
    /// Packets ignored, by reason.
    pub ignored_packets: &'a BTreeMap<String, u64>,
    /// Connections by how they ended.
    pub connections: &'a BTreeMap<String, u64>,
    /// Connections whose handshake was captured.
    pub established_connections: u64,
    /// Connections still open when the figures were taken (live).
    pub open_connections: u64,
    /// TLS connections, decrypted or not, and their fatal alerts.
    pub tls: &'a crate::analysis::stats::TlsStats,
    /// Start of the first call.
    pub first_call: Option<Timestamp>,
    /// Start of the last call.
    pub last_call: Option<Timestamp>,
    /// Problems by note code.
    pub problems: &'a BTreeMap<NoteCode, u64>,
}

impl<'a> SummaryRow<'a> {
    /// The summary of `s`.
    pub fn new(s: &'a Stats) -> Self {
        SummaryRow {
            section: "summary",
            group: (&s.total).into(),
            packets: s.capture.packets,
            tcp_packets: s.capture.tcp_packets,
            ignored_packets: &s.capture.ignored,
            connections: &s.connections,
            established_connections: s.established,
            open_connections: s.open_connections,
            tls: &s.tls,
            first_call: s.span.map(|x| x.0),
            last_call: s.span.map(|x| x.1),
            problems: &s.problems,
        }
    }
}

/// What a breakdown row is about.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RowKey<'a> {
    /// `--by method`.
    Method {
        /// The method.
        method: &'a str,
    },
    /// `--by server`.
    Server {
        /// The server endpoint.
        server: &'a SocketAddr,
    },
    /// `--by edge`.
    Edge {
        /// The client host.
        client: &'a IpAddr,
        /// The server endpoint.
        server: &'a SocketAddr,
    },
    /// `--by conn`.
    Conn {
        /// The connection.
        conn: ConnId,
        /// Its client.
        client: &'a SocketAddr,
        /// Its server.
        server: &'a SocketAddr,
    },
}

/// A breakdown row.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRow<'a> {
    /// `method`, `server`, `edge` or `conn`.
    pub section: &'static str,
    /// What it is about.
    #[serde(flatten)]
    pub key: RowKey<'a>,
    /// Its figures.
    #[serde(flatten)]
    pub group: GroupFields<'a>,
}

/// A second of the capture with errors in it.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    /// `timeline`.
    pub section: &'static str,
    /// Unix second.
    pub second: i64,
    /// Calls started.
    pub calls: u64,
    /// Application errors.
    pub application_errors: u64,
    /// Transport errors.
    pub transport_errors: u64,
    /// Unreadable statuses.
    pub unknown: u64,
}

/// A failure followed across hops.
#[derive(Debug, Clone, Serialize)]
pub struct HopRow<'a> {
    /// The report.
    #[serde(flatten)]
    pub hop: &'a HopReport,
    /// `hop`.
    pub section: &'static str,
}
