//! The `calls` table: one row per call, the record `calls --format json`
//! writes, with typed columns for what people filter and group on.

use super::{json_text, optional, required, split_endpoint, Column, Kind, Table};
use crate::present::text::serde_name;
use crate::present::trace::{request_id, trace_context};
use crate::present::CallRecord;
use std::io;

/// The columns of the `calls` table, in order.
pub const COLUMNS: &[Column] = &[
    required("capture_file", Kind::Text, "the capture file the call was read from, as given"),
    required(
        "call_number",
        Kind::Int64,
        "the call's number in its capture, in start order, as `calls` and `explain --call` count",
    ),
    required("conn_id", Kind::Int64, "the connection's number in its capture (as `conns` prints it)"),
    required("stream_id", Kind::Int64, "HTTP/2 stream id"),
    required("client", Kind::Text, "client `ip:port` (IPv6 as `[::1]:50051`)"),
    optional("client_ip", Kind::Text, "client address"),
    optional("client_port", Kind::Int32, "client port"),
    required("server", Kind::Text, "server `ip:port`"),
    optional("server_ip", Kind::Text, "server address"),
    optional("server_port", Kind::Int32, "server port"),
    optional("authority", Kind::Text, "`:authority`"),
    optional("method", Kind::Text, "`/package.Service/Method`, or the method its evidence names (`method_source`)"),
    optional("service", Kind::Text, "`package.Service` of `method`"),
    optional("method_name", Kind::Text, "`Method` of `method`"),
    optional("method_source", Kind::Text, "what `method` rests on: `header`, `peer` or `schema`"),
    required("start_ts", Kind::Timestamp, "time of the call's first frame"),
    optional("end_ts", Kind::Timestamp, "time of the frame that ended it; null when the capture ended first"),
    optional("duration_ms", Kind::Float64, "`end_ts - start_ts` in milliseconds"),
    optional("first_response_ms", Kind::Float64, "milliseconds from `start_ts` to the server's first frame"),
    optional("http_status", Kind::Int32, "`:status`"),
    optional("grpc_status", Kind::Int32, "numeric `grpc-status`"),
    optional("grpc_status_name", Kind::Text, "its canonical name: `OK`, `UNAVAILABLE`, ..."),
    optional("grpc_message", Kind::Text, "`grpc-message`, percent-decoded"),
    required("error_origin", Kind::Text, "where a failure came from: `none`, `application`, `transport` or `unknown`"),
    optional("status_unknown", Kind::Text, "why the status is unknown, when `error_origin` is `unknown`"),
    optional(
        "transport_error",
        Kind::Text,
        "the kind of transport failure (`http_status`, `rst_stream`, `goaway`, `connection_closed`, ...)",
    ),
    optional("transport_detail", Kind::Text, "what the transport failure was, in words"),
    optional("implied_status_name", Kind::Text, "the gRPC status a client library reports for that transport failure"),
    optional("rst_error_code", Kind::Int64, "the HTTP/2 error code of the RST_STREAM that ended the call"),
    optional("rst_error_name", Kind::Text, "its name (`CANCEL`, `REFUSED_STREAM`, ...)"),
    optional("rst_from", Kind::Text, "who sent it: `client` or `server`"),
    required("complete", Kind::Bool, "the call's end was seen both ways (or a RST_STREAM)"),
    required("trailers_only", Kind::Bool, "the response was Trailers-Only"),
    optional("timeout_ms", Kind::Float64, "the deadline (`grpc-timeout`) in milliseconds"),
    optional("content_type", Kind::Text, "request `content-type`"),
    optional("request_encoding", Kind::Text, "`grpc-encoding` of the requests (compression)"),
    optional("response_encoding", Kind::Text, "`grpc-encoding` of the responses"),
    required("request_messages", Kind::Int32, "client messages"),
    required("response_messages", Kind::Int32, "server messages"),
    required("request_bytes", Kind::Int64, "DATA bytes from the client"),
    required("response_bytes", Kind::Int64, "DATA bytes from the server"),
    optional("trace_id", Kind::Text, "the trace the request carried (32 hex digits), from `traceparent` or B3"),
    optional("parent_span_id", Kind::Text, "the caller's span in that header (16 hex digits)"),
    optional("trace_sampled", Kind::Bool, "the header's sampling decision"),
    optional("trace_source", Kind::Text, "which header: `traceparent`, `b3` or `b3_multi`"),
    optional("request_id", Kind::Text, "`x-request-id`"),
    required("request_headers", Kind::Text, "JSON: the request headers in wire order, `[[name, value], ...]`"),
    required("response_headers", Kind::Text, "JSON: the response headers"),
    required("trailers", Kind::Text, "JSON: the trailers"),
    required(
        "requests",
        Kind::Text,
        "JSON: the client messages, each as in calls-jsonl.md (`json` the decoded message)",
    ),
    required("responses", Kind::Text, "JSON: the server messages"),
    optional("status_details", Kind::Text, "JSON: `grpc-status-details-bin` decoded as `google.rpc.Status`"),
    required("notes", Kind::Text, "JSON: problems seen on the call"),
];

/// Appends the row of one call.
pub fn add(table: &mut Table, capture: &str, number: u64, rec: &CallRecord) -> io::Result<()> {
    let (client_ip, client_port) = split_endpoint(&rec.conn.client);
    let (server_ip, server_port) = split_endpoint(&rec.conn.server);
    let (service, method_name) = match rec.method.as_deref().and_then(|m| m.strip_prefix('/')?.split_once('/')) {
        Some((s, m)) => (Some(s), Some(m)),
        None => (None, None),
    };
    let first_response = rec.first_response.map(|t| t.millis_since(rec.start));
    let transport = rec.transport_error.as_ref();
    let trace = trace_context(rec.request_headers.0);
    let (trace_id, span_id) = (trace.map(|t| t.trace_hex()), trace.map(|t| t.span_hex()));
    let rst = rec.rst_stream.as_ref();
    let count = |n: usize| Some(i32::try_from(n).unwrap_or(i32::MAX));
    table
        .row()
        .text("capture_file", Some(capture))
        .int64("call_number", Some(number as i64))
        .int64("conn_id", Some(rec.conn.id as i64))
        .int64("stream_id", Some(i64::from(rec.stream_id)))
        .text("client", Some(&rec.conn.client))
        .text("client_ip", client_ip)
        .int32("client_port", client_port)
        .text("server", Some(&rec.conn.server))
        .text("server_ip", server_ip)
        .int32("server_port", server_port)
        .text("authority", rec.authority.as_deref())
        .text("method", rec.method.as_deref())
        .text("service", service)
        .text("method_name", method_name)
        .text("method_source", rec.method_source.as_ref().and_then(serde_name).as_deref())
        .time("start_ts", Some(rec.start))
        .time("end_ts", rec.end)
        .float64("duration_ms", rec.duration_ms)
        .float64("first_response_ms", first_response)
        .int32("http_status", rec.http_status.map(i32::from))
        .int32("grpc_status", rec.grpc_status.and_then(|s| i32::try_from(s).ok()))
        .text("grpc_status_name", rec.grpc_status_name)
        .text("grpc_message", rec.grpc_message.as_deref())
        .text("error_origin", serde_name(&rec.error_origin).as_deref())
        .text("status_unknown", rec.status_unknown.as_deref())
        .text("transport_error", transport.and_then(|t| serde_name(&t.kind)).as_deref())
        .text("transport_detail", transport.map(|t| t.detail.as_str()))
        .text("implied_status_name", transport.map(|t| t.implied_status_name))
        .int64("rst_error_code", rst.map(|r| i64::from(r.error_code)))
        .text("rst_error_name", rst.map(|r| r.name.as_str()))
        .text("rst_from", rst.and_then(|r| serde_name(&r.from)).as_deref())
        .bool("complete", rec.complete)
        .bool("trailers_only", rec.trailers_only)
        .float64("timeout_ms", rec.timeout_ms)
        .text("content_type", rec.content_type.as_deref())
        .text("request_encoding", rec.request_encoding.as_deref())
        .text("response_encoding", rec.response_encoding.as_deref())
        .int32("request_messages", count(rec.requests.len()))
        .int32("response_messages", count(rec.responses.len()))
        .int64("request_bytes", Some(rec.request_bytes as i64))
        .int64("response_bytes", Some(rec.response_bytes as i64))
        .text("trace_id", trace_id.as_deref())
        .text("parent_span_id", span_id.as_deref())
        .set("trace_sampled", super::Cell::Bool(trace.and_then(|t| t.sampled)))
        .text("trace_source", trace.map(|t| t.source.name()))
        .text("request_id", request_id(rec.request_headers.0).as_deref())
        .text("request_headers", Some(&json_text(&rec.request_headers)))
        .text("response_headers", Some(&json_text(&rec.response_headers)))
        .text("trailers", Some(&json_text(&rec.trailers)))
        .text("requests", Some(&json_text(&rec.requests)))
        .text("responses", Some(&json_text(&rec.responses)))
        .text("status_details", rec.status_details.as_ref().map(json_text).as_deref())
        .text("notes", Some(&json_text(&rec.notes)));
    table.maybe_flush()
}
