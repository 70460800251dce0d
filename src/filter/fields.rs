//! The fields each kind of record offers to filters.

use super::Value;
use crate::chain::ConnReport;
use crate::grpc::status::STATUS_NAMES;
use crate::grpc::{Call, Origin};
use crate::h2::frame::{error_name, Body};
use crate::h2::Frame;

/// One field a filter may name.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// Its name.
    pub name: &'static str,
    /// It takes a `["name"]` argument.
    pub takes_arg: bool,
    /// What it is.
    pub help: &'static str,
    /// The only values it takes, when they are a closed set (status names,
    /// origins): a filter comparing it to another is refused with the
    /// nearest one, never silently matching nothing.
    pub values: &'static [&'static str],
}

/// The fields of one kind of record.
#[derive(Debug)]
pub struct FieldSet {
    /// What the records are.
    pub kind: &'static str,
    /// Their fields.
    pub fields: &'static [FieldDef],
}

impl FieldSet {
    /// The field called `name` (or an alias of it).
    pub fn find(&self, name: &str) -> Option<&FieldDef> {
        let name = match name {
            "id" => "conn",
            "stream_id" => "stream",
            "latency" => "duration",
            other => other,
        };
        self.fields.iter().find(|f| f.name == name)
    }

    /// Every field name.
    pub fn names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|f| f.name).collect()
    }
}

const fn f(name: &'static str, help: &'static str) -> FieldDef {
    FieldDef { name, takes_arg: false, help, values: &[] }
}

const fn arg(name: &'static str, help: &'static str) -> FieldDef {
    FieldDef { name, takes_arg: true, help, values: &[] }
}

const fn one_of(name: &'static str, help: &'static str, values: &'static [&'static str]) -> FieldDef {
    FieldDef { name, takes_arg: false, help, values }
}

/// Fields of a call.
pub static CALL_FIELDS: FieldSet = FieldSet {
    kind: "call",
    fields: &[
        f("conn", "connection id"),
        f("stream", "HTTP/2 stream id"),
        f("method", "`:path`, e.g. /pkg.Service/Method"),
        f("service", "the service part of the method"),
        f("rpc", "the method name alone"),
        one_of("status", "status name: grpc-status, or what a transport failure implies", &STATUS_NAMES),
        f("grpc_status", "numeric grpc-status"),
        f("http_status", "`:status`"),
        one_of("origin", "none, application, transport or unknown", &["none", "application", "transport", "unknown"]),
        one_of(
            "error",
            "transport failure: http_status, rst_stream, goaway, missing_trailers, connection_closed, connection_reset",
            &["http_status", "rst_stream", "goaway", "missing_trailers", "connection_closed", "connection_reset"],
        ),
        f("message", "grpc-message"),
        f("duration", "start to end"),
        f("start", "start time, Unix seconds"),
        f("requests", "request messages"),
        f("responses", "response messages"),
        f("request_bytes", "DATA bytes from the client"),
        f("response_bytes", "DATA bytes from the server"),
        f("complete", "its end was seen both ways, or it was reset"),
        f("rst", "the RST_STREAM error name, when reset"),
        f("client", "client address:port"),
        f("server", "server address:port"),
        f("authority", "`:authority`"),
        f("content_type", "request content-type"),
        arg("header", "a request header, e.g. header[\"x-request-id\"]"),
        arg("response_header", "a response header"),
        arg("trailer", "a trailer"),
    ],
};

/// Fields of an HTTP/2 frame.
pub static FRAME_FIELDS: FieldSet = FieldSet {
    kind: "frame",
    fields: &[
        f("conn", "connection id"),
        f("stream", "stream id"),
        f("type", "frame type name, e.g. HEADERS"),
        f("flags", "flag names joined by |"),
        f("length", "payload length"),
        one_of("dir", "client_to_server or server_to_client", &["client_to_server", "server_to_client"]),
        f("error", "error code name of RST_STREAM or GOAWAY"),
        f("notes", "how many problems were noted on it"),
        f("start", "time, Unix seconds"),
        arg("header", "a header of the block it completes"),
    ],
};

/// Fields of a connection.
pub static CONN_FIELDS: FieldSet = FieldSet {
    kind: "connection",
    fields: &[
        f("conn", "connection id"),
        f("client", "client address:port"),
        f("server", "server address:port"),
        one_of(
            "end",
            "fin, rst, refused, no_answer, open_at_end, idle, evicted, superseded",
            &["fin", "rst", "refused", "no_answer", "open_at_end", "idle", "evicted", "superseded"],
        ),
        f("established", "the handshake was seen"),
        one_of("protocol", "http2, tls, http1, other, unknown", &["http2", "tls", "http1", "other", "unknown"]),
        f("duration", "first to last packet"),
        f("start", "first packet, Unix seconds"),
        f("packets", "packets both ways"),
        f("bytes", "reassembled bytes both ways"),
        f("gaps", "bytes never captured"),
        f("retransmissions", "retransmitted segments"),
        f("calls", "gRPC calls"),
        f("errors", "calls that failed"),
        f("application_errors", "calls failed by the application"),
        f("transport_errors", "calls failed by the transport"),
        f("goaways", "GOAWAY frames"),
    ],
};

/// A record a filter can test.
pub trait Record {
    /// The value of field `name` (with `arg` for `header["..."]`).
    fn field(&self, name: &str, arg: Option<&str>) -> Value;
}

fn text(s: Option<String>) -> Value {
    s.map_or(Value::Null, Value::Str)
}

/// The value of header `name` in `list` (names compared ignoring case).
pub fn header_value(list: &[crate::grpc::HeaderPair], name: Option<&str>) -> Value {
    let Some(name) = name else { return Value::Null };
    list.iter()
        .find(|(n, _)| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes())))
        .and_then(|(_, v)| v.as_ref())
        .map_or(Value::Null, |v| Value::Str(String::from_utf8_lossy(v).into_owned()))
}

impl Record for Call {
    fn field(&self, name: &str, arg: Option<&str>) -> Value {
        let method = self.method();
        match name {
            "conn" => Value::Num(self.conn as f64),
            "stream" => Value::Num(f64::from(self.stream_id)),
            "method" => text(method),
            "service" => {
                text(method.as_deref().and_then(|m| m.trim_start_matches('/').split('/').next()).map(str::to_string))
            }
            "rpc" => text(method.as_deref().and_then(|m| m.rsplit('/').next()).map(str::to_string)),
            "status" => self.effective_status().map_or(Value::Null, |s| Value::Str(s.to_string())),
            "grpc_status" => self.grpc_status().map_or(Value::Null, |c| Value::Num(f64::from(c))),
            "http_status" => self.http_status().map_or(Value::Null, |c| Value::Num(f64::from(c))),
            "origin" => Value::Str(origin_name(self.verdict().0).into()),
            "error" => self.verdict().1.map_or(Value::Null, |t| {
                Value::Str(
                    serde_json::to_value(t.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                )
            }),
            "message" => text(self.grpc_message()),
            "duration" => self.duration_nanos().map_or(Value::Null, Value::Dur),
            "start" => Value::Num(self.start.as_f64_micros()),
            "requests" => Value::Num(self.requests.len() as f64),
            "responses" => Value::Num(self.responses.len() as f64),
            "request_bytes" => Value::Num(self.bytes[0] as f64),
            "response_bytes" => Value::Num(self.bytes[1] as f64),
            "complete" => Value::Bool(self.complete()),
            "rst" => self.rst.map_or(Value::Null, |r| Value::Str(error_name(r.error_code))),
            "client" => Value::Str(self.client.to_string()),
            "server" => Value::Str(self.server.to_string()),
            "authority" => text(self.authority()),
            "content_type" => text(self.content_type()),
            "header" => header_value(&self.request_headers, arg),
            "response_header" => header_value(&self.response_headers, arg),
            "trailer" => header_value(&self.trailers, arg),
            _ => Value::Null,
        }
    }
}

/// The JSON name of an origin.
pub fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::None => "none",
        Origin::Application => "application",
        Origin::Transport => "transport",
        Origin::Unknown => "unknown",
    }
}

/// What the frame fields read: all a whole frame holds, and all the
/// terminal UI's summary of one keeps, but the header block.
#[derive(Debug, Clone, Copy)]
pub struct FrameFacts<'a> {
    /// Connection.
    pub conn: crate::tcp::ConnId,
    /// Direction.
    pub dir: crate::tcp::Dir,
    /// When.
    pub ts: crate::time::Timestamp,
    /// The 9-byte header.
    pub header: &'a crate::h2::frame::FrameHeader,
    /// RST_STREAM's or GOAWAY's error code.
    pub error: Option<u32>,
    /// Notes made on it.
    pub notes: usize,
}

impl FrameFacts<'_> {
    /// Field `name` (every frame field but `header`).
    pub fn field(&self, name: &str) -> Value {
        match name {
            "conn" => Value::Num(self.conn as f64),
            "stream" => Value::Num(f64::from(self.header.stream_id)),
            "type" => Value::Str(self.header.kind.name()),
            "flags" => Value::Str(self.header.kind.flag_names(self.header.flags).join("|")),
            "length" => Value::Num(f64::from(self.header.length)),
            "dir" => Value::Str(
                if self.dir == crate::tcp::Dir::ToServer { "client_to_server" } else { "server_to_client" }.into(),
            ),
            "error" => self.error.map_or(Value::Null, |c| Value::Str(error_name(c))),
            "notes" => Value::Num(self.notes as f64),
            "start" => Value::Num(self.ts.as_f64_micros()),
            _ => Value::Null,
        }
    }
}

impl Record for Frame {
    fn field(&self, name: &str, arg: Option<&str>) -> Value {
        if name == "header" {
            let Some(b) = &self.block else { return Value::Null };
            let pairs: Vec<crate::grpc::HeaderPair> =
                b.decoded.fields.iter().map(|f| (f.name.clone(), f.value.clone())).collect();
            return header_value(&pairs, arg);
        }
        let error = match &self.body {
            Body::RstStream { error_code } | Body::GoAway { error_code, .. } => Some(*error_code),
            _ => None,
        };
        FrameFacts { conn: self.conn, dir: self.dir, ts: self.ts, header: &self.header, error, notes: self.notes.len() }
            .field(name)
    }
}

impl Record for ConnReport {
    fn field(&self, name: &str, _arg: Option<&str>) -> Value {
        let t = &self.tcp;
        let both = |f: fn(&crate::tcp::HalfStats) -> u64| Value::Num((f(&t.dirs[0]) + f(&t.dirs[1])) as f64);
        match name {
            "conn" => Value::Num(t.id as f64),
            "client" => Value::Str(t.client.to_string()),
            "server" => Value::Str(t.server.to_string()),
            "end" => Value::Str(
                serde_json::to_value(t.end)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                    .unwrap_or_default(),
            ),
            "established" => Value::Bool(t.established),
            "protocol" => Value::Str(self.h2.as_ref().map_or("unknown".into(), |h| {
                serde_json::to_value(h.protocol).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
            })),
            "duration" => Value::Dur(t.last_ts.nanos_since(t.first_ts)),
            "start" => Value::Num(t.first_ts.as_f64_micros()),
            "packets" => both(|d| d.packets),
            "bytes" => both(|d| d.bytes),
            "gaps" => both(|d| d.gap_bytes),
            "retransmissions" => both(|d| u64::from(d.retransmitted)),
            "calls" => Value::Num(self.calls.total as f64),
            "errors" => Value::Num((self.calls.application + self.calls.transport) as f64),
            "application_errors" => Value::Num(self.calls.application as f64),
            "transport_errors" => Value::Num(self.calls.transport as f64),
            "goaways" => Value::Num(self.h2.as_ref().map_or(0, |h| h.goaways.len()) as f64),
            _ => Value::Null,
        }
    }
}
