//! Presentation shared by every view: the printers of `calls`, `frames`
//! and `conns`, the terminal UI and `explain` all show a call's status, a
//! frame's one-line summary, a connection's ladder and decoded messages the
//! same way, from this one module (which none of them owns).

pub mod conn_record;
pub mod data_layout;
pub mod frame_record;
pub mod infer;
pub mod line;
pub mod message;
pub mod raw_text;
pub mod record;
pub mod span;
pub mod stats_record;
pub mod text;
pub mod trace;

pub use conn_record::ConnRecord;
pub use frame_record::{CarrierRecord, FrameRecord};
pub use infer::MethodResolver;
pub use message::{Decoded, Decoder};
pub use record::CallRecord;

use crate::chain::ConnReport;
use crate::grpc::status::status_name;
use crate::grpc::{Call, Origin};
use crate::h2::frame::{error_name, setting_name, Body};
use crate::h2::hpack::{FieldRepr, Representation};
use crate::h2::{Frame, HeaderBlock};
use crate::tcp::Dir;
use crate::time::Timestamp;

/// The method as text views show it: the decoded `:path`; an inferred
/// method marked `~` (its evidence is in `calls -v` and JSON); the unknown
/// entry `:path` refers to, with the candidates when several fit.
pub fn method_label(call: &Call) -> String {
    text::clean(&method_label_raw(call)).into_owned()
}

fn method_label_raw(call: &Call) -> String {
    use crate::grpc::MethodSource;
    match call.resolved_method() {
        Some((m, MethodSource::Header)) => m.into_owned(),
        Some((m, _)) => format!("~{m}"),
        None => match (call.method_key(), &call.inferred) {
            (Some(k), Some(i)) if !i.candidates.is_empty() => format!("{k} (one of {})", i.candidates.join(", ")),
            (Some(k), _) => format!("{k} (method not captured)"),
            (None, _) => "(method not captured)".into(),
        },
    }
}

/// The status column: a name and where it came from.
pub fn status_cell(call: &Call) -> (String, Option<Origin>) {
    let (origin, transport) = call.verdict();
    status_text(call, origin, transport.as_ref())
}

/// The status column of `call` from its verdict (computed once by the caller).
fn status_text(
    call: &Call,
    origin: Origin,
    transport: Option<&crate::grpc::TransportError>,
) -> (String, Option<Origin>) {
    if let Some(t) = transport {
        let short = match t.kind {
            crate::grpc::TransportKind::HttpStatus => format!("HTTP {}", call.http_status().unwrap_or(0)),
            crate::grpc::TransportKind::RstStream => {
                format!("RST by {}", call.rst.map(|r| r.from.to_string()).unwrap_or_default())
            }
            crate::grpc::TransportKind::Goaway => "GOAWAY".into(),
            crate::grpc::TransportKind::MissingTrailers => "no trailers".into(),
            crate::grpc::TransportKind::ConnectionClosed => "conn closed".into(),
            crate::grpc::TransportKind::ConnectionReset => "conn reset".into(),
        };
        return (format!("{} ({short})", t.implied_status_name), Some(origin));
    }
    if origin == Origin::Unknown {
        let why = match call.status_unknown_reason() {
            Some(r) if r.starts_with("status not captured: the") => "? (status not captured)",
            _ => "? (status unreadable)",
        };
        return (why.into(), Some(origin));
    }
    match call.grpc_status() {
        Some(c) => (status_name(c).map_or_else(|| format!("status {c}"), str::to_string), Some(origin)),
        None if call.end.is_none() => ("(in progress)".into(), None),
        None => ("-".into(), None),
    }
}

/// A direction as the frames listing writes it: `C->S` or `S->C`.
pub fn arrow(d: Dir) -> &'static str {
    match d {
        Dir::ToServer => "C->S",
        Dir::ToClient => "S->C",
    }
}

/// How a field was encoded, in words.
/// How one field was encoded, and for an unknown entry where it came from:
/// `indexed, dynamic 64 (inserted before the capture)`.
pub fn describe_field(f: &crate::h2::hpack::HeaderField) -> String {
    match f.slot.filter(|_| f.is_unknown()) {
        Some(slot) => format!("{} ({})", describe_repr(&f.repr), slot.origin()),
        None => describe_repr(&f.repr),
    }
}

pub fn describe_repr(r: &FieldRepr) -> String {
    let idx = |i: u32| {
        if i > 61 {
            format!("dynamic {i}")
        } else {
            format!("static {i}")
        }
    };
    let lit = |s: &crate::h2::hpack::StringRepr| {
        if s.huffman {
            format!("Huffman {}->{} bytes", s.encoded_len, s.decoded_len)
        } else {
            format!("raw {} bytes", s.encoded_len)
        }
    };
    let mut parts = vec![r.kind.describe().to_string()];
    match r.kind {
        Representation::Indexed => parts.push(r.index.map_or_else(String::new, idx)),
        _ => {
            parts.push(match (&r.index, &r.name_literal) {
                (Some(i), _) => format!("name {}", idx(*i)),
                (None, Some(s)) => format!("name {}", lit(s)),
                (None, None) => String::new(),
            });
            if let Some(v) = &r.value_literal {
                parts.push(format!("value {}", lit(v)));
            }
            if r.kind == Representation::IncrementalIndexing {
                parts.push("-> dynamic 62".to_string());
                if r.evicted > 0 {
                    parts.push(format!("({} evicted)", r.evicted));
                }
            }
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join(", ")
}

fn header_list(b: &HeaderBlock) -> String {
    let fields: Vec<String> = b.decoded.fields.iter().map(|f| format!("{}: {}", f.name_str(), f.value_str())).collect();
    let mut s = fields.join("; ");
    if b.decoded.dropped > 0 {
        s.push_str(&format!("; ... {} more", b.decoded.dropped));
    }
    s
}

/// The one-line summary of a frame's content, safe for a terminal.
pub fn summary(f: &Frame) -> String {
    text::clean(&summary_raw(f)).into_owned()
}

fn summary_raw(f: &Frame) -> String {
    let p = &f.payload;
    match &f.body {
        Body::Data { pad_len, data } => {
            let mut s = format!("{} bytes", data.len());
            if let Some(pl) = pad_len {
                s.push_str(&format!(" (+{pl} padding)"));
            }
            s
        }
        Body::Headers { .. } | Body::PushPromise { .. } | Body::Continuation { .. } => {
            let priority = match &f.body {
                Body::Headers { priority, .. } => *priority,
                _ => None,
            };
            let mut s = String::new();
            if let Body::PushPromise { promised_stream_id, .. } = &f.body {
                s.push_str(&format!("promised stream {promised_stream_id}; "));
            }
            if let Some(pr) = priority {
                s.push_str(&format!(
                    "[depends on {} weight {}{}] ",
                    pr.depends_on,
                    pr.weight,
                    if pr.exclusive { " exclusive" } else { "" }
                ));
            }
            match &f.block {
                Some(b) => s.push_str(&header_list(b)),
                None => s.push_str("(header block continues)"),
            }
            s
        }
        Body::Priority(pr) => {
            format!("depends on {} weight {}{}", pr.depends_on, pr.weight, if pr.exclusive { " exclusive" } else { "" })
        }
        Body::RstStream { error_code } => format!("{} (0x{error_code:x})", error_name(*error_code)),
        Body::Settings { ack: true, .. } => "ACK".into(),
        Body::Settings { params, .. } if params.is_empty() => "(no parameters)".into(),
        Body::Settings { params, .. } => {
            params.iter().map(|(id, v)| format!("{}={v}", setting_name(*id))).collect::<Vec<_>>().join(" ")
        }
        Body::Ping { ack, opaque } => {
            format!("{}opaque {}", if *ack { "ACK " } else { "" }, hex(opaque))
        }
        Body::GoAway { last_stream_id, error_code, debug } => {
            let text = p.get(debug.clone()).map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default();
            let mut s = format!("last stream {last_stream_id}, {}", error_name(*error_code));
            if !text.is_empty() {
                s.push_str(&format!(", debug \"{}\"", crate::present::text::truncate(&text, 80)));
            }
            s
        }
        Body::WindowUpdate { increment } => format!("+{increment}"),
        Body::Unknown => format!("extension frame type {}: {} bytes, ignored", f.header.kind.0, p.len()),
        Body::Malformed(why) => format!("malformed: {why}"),
    }
}

/// The steps of bringing a connection up, with their times.
pub fn ladder(r: &ConnReport) -> Vec<(Timestamp, String)> {
    let c = &r.tcp;
    let mut steps = Vec::new();
    let mut push = |ts: Option<Timestamp>, s: &str| {
        if let Some(ts) = ts {
            steps.push((ts, s.to_string()));
        }
    };
    push(c.syn_ts, "SYN (client)");
    push(c.synack_ts, "SYN-ACK (server)");
    push(c.ack_ts, "ACK (client): TCP established");
    if let Some(h) = &r.h2 {
        push(h.preface_ts, "HTTP/2 client preface");
        for (who, other, list) in [("client", "server", &h.client_settings), ("server", "client", &h.server_settings)] {
            if let Some(s) = list.first() {
                push(Some(s.ts), &format!("SETTINGS ({who})"));
                push(s.acked, &format!("SETTINGS ACK ({other})"));
            }
        }
    }
    steps.sort_by_key(|(ts, _)| *ts);
    steps
}

/// Bytes as lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The first 32 bytes as spaced hex (`08 03 12 …`), for a `-bin` value's
/// bytes in `calls -v` and `explain`.
pub fn hex_preview(b: &[u8]) -> String {
    const SHOWN: usize = 32;
    let hex: Vec<String> = b.iter().take(SHOWN).map(|x| format!("{x:02x}")).collect();
    let more = if b.len() > SHOWN { " …" } else { "" };
    format!("{}{more}", hex.join(" "))
}
