//! A call as an OpenTelemetry span, with the RPC semantic conventions
//! (`rpc.system.name`, `rpc.method`, `rpc.response.status_code`,
//! `server.address`, `network.peer.*`) and grpcscope's own attributes
//! (`grpcscope.error.origin`, `grpcscope.hop`, the connection). The record
//! the OTLP exporter encodes; built from the call itself, without decoding
//! its messages (a span carries no payloads).
//!
//! Ids: when the request carried a trace context (`traceparent`, B3) the
//! span joins that trace as a child of the caller's span; otherwise it
//! starts a trace of its own. Either way its ids are derived from the
//! capture, connection, stream and start time, so exporting the same
//! capture twice gives the same spans (a backend keeps one copy) and no
//! two calls share an id.

use super::trace::{trace_context, TraceSource};
use crate::grpc::status::status_name;
use crate::grpc::{Call, Origin};
use sha2::{Digest, Sha256};

/// The value of a span attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
}

/// The span's status (OpenTelemetry's: unset unless an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    /// Not an error.
    Unset,
    /// The call failed.
    Error,
}

/// One call as a span.
#[derive(Debug, Clone, PartialEq)]
pub struct WireSpan {
    /// The trace: the caller's, or one of its own.
    pub trace_id: [u8; 16],
    /// This span.
    pub span_id: [u8; 8],
    /// The caller's span from the trace context, when there was one.
    pub parent_span_id: Option<[u8; 8]>,
    /// Which header the trace came from.
    pub trace_source: Option<TraceSource>,
    /// `pkg.Service/Method`, the RPC conventions' span name.
    pub name: String,
    /// Start, nanoseconds since the epoch.
    pub start_unix_nanos: u64,
    /// End (the start when the capture ended first: the span then says so).
    pub end_unix_nanos: u64,
    /// Attributes, in a fixed order.
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// Error or not.
    pub status: SpanStatus,
    /// The error's message.
    pub status_message: String,
}

/// `n` bytes of SHA-256 over the call's identity, for ids that are
/// stable across exports and distinct across calls.
fn derived<const N: usize>(what: &str, capture: &str, call: &Call) -> [u8; N] {
    let mut h = Sha256::new();
    for part in [what, capture, &call.conn.to_string(), &call.stream_id.to_string(), &call.start.0.to_string()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut id = [0u8; N];
    id.iter_mut().zip(digest.iter()).for_each(|(o, b)| *o = *b);
    // An all-zero id is invalid; one chance in 2^64 is still a chance.
    if id.iter().all(|b| *b == 0) {
        if let Some(last) = id.last_mut() {
            *last = 1;
        }
    }
    id
}

/// `host` of an `:authority` (`host:port`, `[v6]:port`, or a bare host).
fn authority_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// The span of `call`, read from the capture named `capture`.
pub fn span_of(call: &Call, capture: &str) -> WireSpan {
    let context = trace_context(&call.request_headers);
    let (origin, transport) = call.verdict();
    let method = call.resolved_method().map(|(m, _)| m.trim_start_matches('/').to_string());
    let status = call.grpc_status().and_then(status_name).or(transport.as_ref().map(|t| t.implied_status_name));
    let mut a: Vec<(&'static str, AttrValue)> = Vec::with_capacity(24);
    let text = |s: &str| AttrValue::Text(s.to_string());
    a.push(("rpc.system.name", text("grpc")));
    if let Some(m) = &method {
        a.push(("rpc.method", text(m)));
    }
    if let Some(s) = status {
        a.push(("rpc.response.status_code", text(s)));
    }
    let authority = call.authority();
    let server_host = authority.as_deref().map(authority_host).map(str::to_string);
    a.push(("server.address", AttrValue::Text(server_host.unwrap_or_else(|| call.server.ip().to_string()))));
    a.push(("server.port", AttrValue::Int(i64::from(call.server.port()))));
    a.push(("network.peer.address", AttrValue::Text(call.server.ip().to_string())));
    a.push(("network.peer.port", AttrValue::Int(i64::from(call.server.port()))));
    a.push(("client.address", AttrValue::Text(call.client.ip().to_string())));
    a.push(("client.port", AttrValue::Int(i64::from(call.client.port()))));
    a.push(("network.transport", text("tcp")));
    a.push(("network.type", text(if call.server.is_ipv4() { "ipv4" } else { "ipv6" })));
    a.push(("network.protocol.name", text("http")));
    a.push(("network.protocol.version", text("2")));
    if let Some(h) = call.http_status() {
        a.push(("http.response.status_code", AttrValue::Int(i64::from(h))));
    }
    let failed = matches!(origin, Origin::Application | Origin::Transport);
    let kind = transport.as_ref().and_then(|t| super::text::serde_name(&t.kind));
    if failed {
        let error_type = status.map(str::to_string).or_else(|| kind.clone()).unwrap_or_else(|| "_OTHER".into());
        a.push(("error.type", AttrValue::Text(error_type)));
    }
    a.push(("grpcscope.error.origin", text(crate::filter::origin_name(origin))));
    if let Some(t) = &transport {
        a.push(("grpcscope.transport.error", AttrValue::Text(kind.unwrap_or_default())));
        a.push(("grpcscope.transport.detail", text(&t.detail)));
    }
    if origin == Origin::Unknown {
        a.push(("grpcscope.status.unknown", AttrValue::Text(call.status_unknown_reason().unwrap_or_default())));
    }
    a.push(("grpcscope.hop", AttrValue::Text(format!("{} -> {}", call.client.ip(), call.server))));
    a.push(("grpcscope.connection.id", AttrValue::Int(call.conn as i64)));
    a.push(("grpcscope.stream.id", AttrValue::Int(i64::from(call.stream_id))));
    a.push(("grpcscope.capture", text(capture)));
    a.push(("grpcscope.request.messages", AttrValue::Int(call.requests.len() as i64)));
    a.push(("grpcscope.response.messages", AttrValue::Int(call.responses.len() as i64)));
    a.push(("grpcscope.request.bytes", AttrValue::Int(call.bytes[0] as i64)));
    a.push(("grpcscope.response.bytes", AttrValue::Int(call.bytes[1] as i64)));
    if call.end.is_none() {
        a.push(("grpcscope.incomplete", text("the capture ended before the call did")));
    }
    // A capture that reordered the two directions' packets can time the
    // last frame before the first: the span then takes no time, and says why.
    let end = call.end.map(|e| e.max(call.start));
    if call.end.is_some_and(|e| e < call.start) {
        a.push(("grpcscope.reordered", text("the call's last frame was captured before its first")));
    }
    if let Some(c) = &context {
        a.push(("grpcscope.trace.source", text(c.source.name())));
    }
    let status_message = match (&transport, origin) {
        (Some(t), _) => t.detail.clone(),
        (None, Origin::Application) => call.grpc_message().unwrap_or_default(),
        _ => String::new(),
    };
    let nanos = |t: crate::time::Timestamp| u64::try_from(t.0).unwrap_or(0);
    WireSpan {
        trace_id: context.map_or_else(|| derived("trace", capture, call), |c| c.trace_id),
        span_id: derived("span", capture, call),
        parent_span_id: context.map(|c| c.span_id),
        trace_source: context.map(|c| c.source),
        name: method.unwrap_or_else(|| "grpc (method not captured)".into()),
        start_unix_nanos: nanos(call.start),
        end_unix_nanos: nanos(end.unwrap_or(call.start)),
        attributes: a,
        status: if failed { SpanStatus::Error } else { SpanStatus::Unset },
        status_message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_hosts() {
        assert_eq!(authority_host("shop.internal:443"), "shop.internal");
        assert_eq!(authority_host("[::1]:50051"), "::1");
        assert_eq!(authority_host("shop.internal"), "shop.internal");
    }
}
