//! The `conns` table: one row per TCP connection, the record `conns
//! --format json` writes.

use super::{json_text, optional, required, split_endpoint, Column, Kind, Table};
use crate::present::conn_record::ConnRecord;
use crate::present::text::serde_name;
use std::io;

/// The columns of the `conns` table, in order.
pub const COLUMNS: &[Column] = &[
    required("capture_file", Kind::Text, "the capture file the connection was read from, as given"),
    required("conn_id", Kind::Int64, "the connection's number in its capture (the `conn_id` of calls and frames)"),
    required("client", Kind::Text, "client `ip:port`"),
    optional("client_ip", Kind::Text, "client address"),
    optional("client_port", Kind::Int32, "client port"),
    required("server", Kind::Text, "server `ip:port`"),
    optional("server_ip", Kind::Text, "server address"),
    optional("server_port", Kind::Int32, "server port"),
    optional("client_name", Kind::Text, "the client host's name (`--names`, `--k8s`, the capture's DNS answers)"),
    optional("server_name", Kind::Text, "the server host's name"),
    required("first_ts", Kind::Timestamp, "its first packet"),
    required("last_ts", Kind::Timestamp, "its last packet"),
    required("established", Kind::Bool, "SYN, SYN-ACK and ACK all captured"),
    optional("handshake_rtt_ms", Kind::Float64, "SYN to ACK, in milliseconds"),
    required(
        "end_reason",
        Kind::Text,
        "how it ended: `fin`, `rst`, `refused`, `no_answer`, `open_at_end`, `idle`, ...",
    ),
    optional("end_by", Kind::Text, "who sent the first FIN or the RST: `client` or `server`"),
    required("end_ts", Kind::Timestamp, "when"),
    required("why_ended", Kind::Text, "why, in words"),
    optional("protocol", Kind::Text, "what it carried: `http2`, `tls`, `http1`, `other`, `unknown`"),
    optional("reconnect_of", Kind::Int64, "the connection of the same channel this one replaced"),
    optional("reconnect_gap_ms", Kind::Float64, "from that one's end to this one's start"),
    required("calls", Kind::Int64, "gRPC calls it carried"),
    required("calls_ok", Kind::Int64, "of which OK"),
    required("calls_application_error", Kind::Int64, "of which failed by the application (a grpc-status it chose)"),
    required("calls_transport_error", Kind::Int64, "of which failed by the transport"),
    required("calls_unknown", Kind::Int64, "of which with an unknown status"),
    required("packets_to_server", Kind::Int64, "packets from the client"),
    required("packets_to_client", Kind::Int64, "packets from the server"),
    required("bytes_to_server", Kind::Int64, "TCP payload bytes from the client"),
    required("bytes_to_client", Kind::Int64, "TCP payload bytes from the server"),
    required("retransmissions", Kind::Int64, "retransmitted segments, both ways"),
    required("gap_bytes", Kind::Int64, "bytes the capture lost, both ways"),
    optional("goaways", Kind::Int64, "GOAWAY frames"),
    optional("goaway_error", Kind::Text, "the error name of the last GOAWAY (`NO_ERROR`, `ENHANCE_YOUR_CALM`, ...)"),
    optional("tls_version", Kind::Text, "TLS version, when TLS"),
    optional("tls_server_name", Kind::Text, "the ClientHello's server name (SNI)"),
    optional("tls_alpn", Kind::Text, "the protocol the server chose (ALPN)"),
    optional("tls_alerts", Kind::Int64, "TLS alerts"),
    required("ladder", Kind::Text, "JSON: handshake and HTTP/2 set-up steps in time order"),
    optional(
        "h2",
        Kind::Text,
        "JSON: HTTP/2 facts (settings, pings, goaways, frame counts), as in `conns --format json`",
    ),
    optional("tls", Kind::Text, "JSON: TLS facts, as in `conns --format json`"),
];

/// Appends the row of one connection.
pub fn add(table: &mut Table, capture: &str, rec: &ConnRecord) -> io::Result<()> {
    let (client_ip, client_port) = split_endpoint(&rec.client);
    let (server_ip, server_port) = split_endpoint(&rec.server);
    let (client_name, server_name) = (rec.names.client.as_deref(), rec.names.server.as_deref());
    let (up, down) = (rec.client_to_server, rec.server_to_client);
    let n = |v: u64| Some(i64::try_from(v).unwrap_or(i64::MAX));
    let h2 = rec.h2.as_ref();
    let last_goaway = h2.and_then(|h| h.goaways.last());
    let tls = rec.tls;
    let end = serde_json::to_value(rec.end).unwrap_or_default();
    let end_field = |k: &str| end.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
    table
        .row()
        .text("capture_file", Some(capture))
        .int64("conn_id", n(rec.id))
        .text("client", Some(&rec.client))
        .text("client_ip", client_ip)
        .int32("client_port", client_port)
        .text("server", Some(&rec.server))
        .text("server_ip", server_ip)
        .int32("server_port", server_port)
        .text("client_name", client_name.map(|n| n.name.as_str()))
        .text("server_name", server_name.map(|n| n.name.as_str()))
        .time("first_ts", Some(rec.first_ts))
        .time("last_ts", Some(rec.last_ts))
        .bool("established", rec.established)
        .float64("handshake_rtt_ms", rec.handshake.as_ref().and_then(|h| h.rtt_ms))
        .text("end_reason", end_field("kind").as_deref())
        .text("end_by", end_field("by").as_deref())
        .time("end_ts", Some(rec.end_ts))
        .text("why_ended", Some(&rec.why_ended))
        .text("protocol", rec.protocol.as_ref().and_then(serde_name).as_deref())
        .int64("reconnect_of", rec.reconnect_of.and_then(|c| i64::try_from(c).ok()))
        .float64("reconnect_gap_ms", rec.reconnect_gap_ms)
        .int64("calls", n(rec.calls.total))
        .int64("calls_ok", n(rec.calls.ok))
        .int64("calls_application_error", n(rec.calls.application))
        .int64("calls_transport_error", n(rec.calls.transport))
        .int64("calls_unknown", n(rec.calls.unknown))
        .int64("packets_to_server", n(up.packets))
        .int64("packets_to_client", n(down.packets))
        .int64("bytes_to_server", n(up.bytes))
        .int64("bytes_to_client", n(down.bytes))
        .int64("retransmissions", n(u64::from(up.retransmitted) + u64::from(down.retransmitted)))
        .int64("gap_bytes", n(up.gap_bytes + down.gap_bytes))
        .int64("goaways", h2.map(|h| h.goaways.len() as i64))
        .text("goaway_error", last_goaway.map(|g| g.error_name.as_str()))
        .text("tls_version", tls.and_then(|t| t.version.as_deref()))
        .text("tls_server_name", tls.and_then(|t| t.server_name.as_deref()))
        .text("tls_alpn", tls.and_then(|t| t.alpn.as_deref()))
        .int64("tls_alerts", tls.map(|t| t.alerts.len() as i64))
        .text("ladder", Some(&json_text(&rec.ladder)))
        .text("h2", h2.map(json_text).as_deref())
        .text("tls", tls.map(json_text).as_deref());
    table.maybe_flush()
}
