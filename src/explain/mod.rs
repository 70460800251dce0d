//! Plain-English explanations of what crosses the wire, with the RFC
//! section for each step: for the TUI's explain panel and `grpcscope explain`.

use crate::h2::frame::{error_name, flags, setting_name, Body};
use crate::h2::Frame;
use crate::present::data_layout::{DataLayout, Unknown};
use crate::tcp::Dir;

pub mod narrate;

pub(crate) fn who(d: Dir) -> (&'static str, &'static str) {
    match d {
        Dir::ToServer => ("the client", "the server"),
        Dir::ToClient => ("the server", "the client"),
    }
}

/// What a frame means, in a few sentences.
pub fn frame(f: &Frame, layout: Option<&DataLayout>) -> String {
    let (from, to) = who(f.dir);
    let h = &f.header;
    let mut s = format!(
        "{} frame: 9-byte header (length {}, type 0x{:x}, flags 0x{:02x}, stream {}) then {} bytes of payload (RFC 9113 §4.1).\n",
        h.kind.name(),
        h.length,
        h.kind.0,
        h.flags,
        h.stream_id,
        h.length
    );
    match &f.body {
        Body::Data { data, pad_len } => {
            s.push_str(&format!("DATA (§6.1): {from} sends {} bytes of the stream's body to {to}.", data.len()));
            if let Some(p) = pad_len {
                s.push_str(&format!(" {p} bytes of padding hide the real length."));
            }
            s.push_str(&data_sentence(layout));
            if let Some(flow) = &f.flow {
                s.push_str(&flow_sentence(flow, from, to));
            }
            if h.has(flags::END_STREAM) {
                s.push_str(&format!(" END_STREAM: {from} has finished sending on this stream (half-closed, §5.1)."));
            }
        }
        Body::Headers { .. } | Body::Continuation { .. } | Body::PushPromise { .. } => {
            s.push_str(&format!("{} (§6.2): a header block, compressed with HPACK (RFC 7541)", h.kind.name()));
            if let Some(b) = &f.block {
                let is_request = b.get(":method").is_some();
                let is_trailers = b.get("grpc-status").is_some();
                let role = if is_request {
                    "It opens a gRPC call: :path names the method (/package.Service/Method).".to_string()
                } else if is_trailers {
                    "These are trailers: grpc-status says how the call ended (0 is OK), grpc-message why.".to_string()
                } else {
                    response_sentence(b)
                };
                s.push_str(&format!(". {role}\n"));
                for u in &b.decoded.size_updates {
                    s.push_str(&format!(
                        "  The block starts with a dynamic table size update: the encoder shrinks or grows its table to {} bytes (§6.3).\n",
                        u.max_size
                    ));
                }
                for field in &b.decoded.fields {
                    let name = field.name_str();
                    let value = match &field.value {
                        Some(v) if name.ends_with("-bin") => binary_value(v),
                        _ => crate::present::text::clean(&field.value_str()).into_owned(),
                    };
                    let name = crate::present::text::clean(&name);
                    s.push_str(&format!("  {name}: {value}  <- {}\n", hpack_sentence(field)));
                }
                s.push_str(&format!("The dynamic table of this direction now holds {} bytes.", b.table_size));
            } else {
                s.push_str(": the block continues in a CONTINUATION frame (§6.10).");
            }
            if h.has(flags::END_STREAM) {
                s.push_str(&format!(" END_STREAM: {from} is done with this stream."));
            }
        }
        Body::Settings { ack: true, .. } => s.push_str(&format!("SETTINGS ACK (§6.5): {from} acknowledges {to}'s SETTINGS; they now apply.")),
        Body::Settings { params, .. } => {
            s.push_str(&format!("SETTINGS (§6.5): {from} announces its parameters; {to} must acknowledge them.\n"));
            for (id, v) in params {
                s.push_str(&format!("  {} = {v}: {}\n", setting_name(*id), setting_meaning(*id)));
            }
        }
        Body::RstStream { error_code } => s.push_str(&format!(
            "RST_STREAM (§6.4): {from} aborts stream {} with {}. Nothing more is sent on it; {to} stops too. In gRPC a client resets with CANCEL when it gives up (a deadline, a cancellation); the client reports CANCELLED or DEADLINE_EXCEEDED.",
            h.stream_id,
            error_name(*error_code)
        )),
        Body::GoAway { last_stream_id, error_code, .. } => s.push_str(&format!(
            "GOAWAY (§6.8): {from} is shutting the connection down ({}). Streams up to {last_stream_id} may be processed; later ones were not and are safe to retry. {to} opens no new streams here: a gRPC client reconnects for new calls.",
            error_name(*error_code)
        )),
        Body::WindowUpdate { increment } => {
            s.push_str(&format!(
                "WINDOW_UPDATE (§6.9): {from} grants {to} {increment} more bytes of {} flow-control window.",
                if h.stream_id == 0 { "connection".to_string() } else { format!("stream {}", h.stream_id) }
            ));
            if let Some(flow) = &f.flow {
                s.push_str(&flow_sentence(flow, to, from));
            }
        }
        Body::Ping { ack: false, .. } => s.push_str(&format!("PING (§6.7): {from} checks the connection is alive; {to} must echo the 8 bytes with ACK. The gap is a round-trip time.")),
        Body::Ping { ack: true, .. } => s.push_str(&format!("PING ACK (§6.7): {from} echoes {to}'s PING.")),
        Body::Priority(_) => s.push_str("PRIORITY (§6.3): a stream dependency hint, deprecated by RFC 9113; gRPC does not use it."),
        Body::Unknown => s.push_str("An extension frame type: receivers ignore types they do not know (§4.1)."),
        Body::Malformed(why) => s.push_str(&format!("This frame breaks its type's rules: {why}.")),
    }
    if !f.carriers.is_empty() {
        if !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&carried_by(f));
    }
    s
}

/// What a DATA frame's bytes are, as far as the stream's headers and the
/// message prefixes tell.
fn data_sentence(layout: Option<&DataLayout>) -> String {
    const LPM: &str =
        "a gRPC Length-Prefixed-Message is a 1-byte compressed flag and a 4-byte length, then the protobuf message";
    match layout {
        // An empty DATA (often the one that carries END_STREAM) carries nothing to tell.
        Some(DataLayout::Messages(p)) if p.is_empty() => String::new(),
        Some(DataLayout::Messages(_)) => format!(" These bytes carry {}: {LPM}.", lower_first(&layout.map(DataLayout::describe).unwrap_or_default())),
        Some(DataLayout::Unknown(Unknown::NotGrpc)) => " The stream's headers gave a content-type other than application/grpc, so these bytes are not gRPC messages but the body as sent (a proxy's error page, for one).".into(),
        Some(DataLayout::Unknown(why)) => format!(" {}.", upper_first(&why.describe())),
        None => format!(" On a gRPC stream (content-type application/grpc) these bytes are Length-Prefixed-Messages: {LPM}."),
    }
}

/// The response headers' sentence, from what they hold: the status, and
/// when it is not 200, that a gRPC server did not answer.
fn response_sentence(b: &crate::h2::HeaderBlock) -> String {
    let text = |n: &str| b.get(n).map(|v| crate::present::text::clean(&String::from_utf8_lossy(v)).into_owned());
    let status = text(":status").unwrap_or_else(|| "unknown".into());
    let ct = text("content-type").map_or_else(String::new, |c| format!(" and content-type {c}"));
    if status == "200" {
        format!("These are the response headers: :status 200{ct}.")
    } else {
        format!(
            "These are the response headers: :status {status}{ct}. A gRPC server always answers 200 and puts its \
             outcome in grpc-status; any other :status comes from something in between (a proxy, a load balancer), \
             and the client maps it to a gRPC status (504 to UNAVAILABLE, per gRPC's HTTP-to-gRPC table)."
        )
    }
}

/// A `-bin` metadata value: never its raw bytes on a terminal. On the
/// wire it is base64 (shown as sent, then what it decodes to, in hex); a
/// peer that negotiated true binary sends raw bytes, shown base64-encoded.
fn binary_value(v: &[u8]) -> String {
    use crate::grpc::status::{bin_as_base64, decode_bin, BinEncoding};
    let text = crate::present::text::clean(&bin_as_base64(v)).into_owned();
    match decode_bin(v) {
        Some((bytes, BinEncoding::Base64)) => {
            format!("{text} (base64 of {} bytes: {})", bytes.len(), crate::present::hex_preview(&bytes))
        }
        Some((bytes, BinEncoding::TrueBinary)) => format!(
            "{text} (raw bytes, as true binary metadata sends them, base64-encoded here; {} bytes: {})",
            bytes.len(),
            crate::present::hex_preview(&bytes)
        ),
        None => format!("{text} (not valid base64)"),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_lowercase().chain(c).collect())
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// Where a decrypted frame was captured: the TLS records that carried it
/// (a frame may span records, and a record hold several frames).
fn carried_by(f: &Frame) -> String {
    const SHOWN: usize = 3;
    if f.carriers.is_empty() {
        return String::new();
    }
    let mut list: Vec<String> =
        f.carriers.iter().take(SHOWN).map(|c| crate::present::CarrierRecord::new(c).describe()).collect();
    if f.carriers.len() > SHOWN {
        list.push(format!("{} more", f.carriers.len() - SHOWN));
    }
    format!("It travelled encrypted, in {} (RFC 8446 §5.2, RFC 5246 §6.2.3.3).", list.join(", "))
}

/// Windows before and after a frame (RFC 9113 §5.2, §6.9.1): what the
/// sender (`from`) may still send before the receiver (`to`) grants more.
fn flow_sentence(flow: &crate::h2::FlowInfo, from: &str, to: &str) -> String {
    let window = |w: Option<(i64, i64)>| w.map(|(a, b)| format!("{a} -> {b} bytes"));
    let mut parts = Vec::new();
    if let Some(w) = window(flow.stream) {
        parts.push(format!("the stream's window {w}"));
    }
    if let Some(w) = window(flow.connection) {
        parts.push(format!("the connection's {w}"));
    }
    if parts.is_empty() {
        return String::new();
    }
    let left = [flow.stream, flow.connection].iter().flatten().map(|(_, b)| *b).min().unwrap_or(0);
    format!(
        " Flow control (§5.2): {}; {from} may send {} more DATA bytes before {to} grants more with WINDOW_UPDATE.",
        parts.join(", "),
        left.max(0)
    )
}

/// How HPACK encoded one field, in words: `static index 2 means :method: GET`...
pub fn hpack_sentence(f: &crate::h2::hpack::HeaderField) -> String {
    use crate::h2::hpack::Representation::*;
    if f.is_unknown() {
        return match f.slot {
            Some(slot) => format!(
                "refers to dynamic-table entry {slot}, {}: its {} unknown, but every reference to {slot} is this same entry",
                slot.origin(),
                if f.value.is_some() { "name is" } else { "name and value are" }
            ),
            None => "refers to a dynamic-table entry inserted before the capture began: unknown".into(),
        };
    }
    let r = &f.repr;
    let table = |i: u32| if i <= 61 { format!("static table index {i}") } else { format!("dynamic table index {i}") };
    let name = match (r.index, &r.name_literal) {
        (Some(i), _) => format!("the name is {}", table(i)),
        (None, Some(n)) => format!("the name is a literal, {}", string_sentence(n)),
        (None, None) => String::new(),
    };
    let value = r.value_literal.as_ref().map(|v| format!("the value is {}", string_sentence(v))).unwrap_or_default();
    let mut s = match (r.kind, r.index) {
        (Indexed, Some(i)) if i <= 61 => {
            format!("1 byte: static table index {i} means exactly this name and value (§6.1, Appendix A)")
        }
        (Indexed, Some(i)) => {
            format!("dynamic table index {i}: the whole field, sent earlier on this connection and kept in the table (§6.1)")
        }
        (Indexed, None) => "an indexed field (§6.1)".to_string(),
        (IncrementalIndexing, _) => format!(
            "a literal added to the dynamic table (§6.2.1): {name}, {value}; it becomes dynamic index 62 and older entries move up one"
        ),
        (WithoutIndexing, _) => {
            format!("a literal not added to the table (§6.2.2): {name}, {value}; it must be sent again next time")
        }
        (NeverIndexed, _) => format!(
            "a literal no intermediary may ever add to a table (§6.2.3), HPACK's mark for a sensitive value: {name}, {value}"
        ),
    };
    if r.evicted > 0 {
        s.push_str(&format!("; to make room, {} of the oldest entries were evicted (§4.4)", r.evicted));
    }
    s
}

/// How a literal string was sent (RFC 7541 §5.2).
fn string_sentence(v: &crate::h2::hpack::StringRepr) -> String {
    if v.huffman {
        // Wire first, as `frames -v` writes it (Huffman 11->15 bytes).
        format!("Huffman-coded: {} bytes on the wire decode to {} (§5.2)", v.encoded_len, v.decoded_len)
    } else {
        format!("{} raw bytes (§5.2)", v.encoded_len)
    }
}

fn setting_meaning(id: u16) -> &'static str {
    use crate::h2::frame::setting::*;
    match id {
        HEADER_TABLE_SIZE => "the largest HPACK dynamic table the sender accepts for what it receives",
        ENABLE_PUSH => "0 forbids server push (gRPC never uses it)",
        MAX_CONCURRENT_STREAMS => "how many streams (calls) the peer may open at once",
        INITIAL_WINDOW_SIZE => "the initial flow-control window of every stream, in bytes",
        MAX_FRAME_SIZE => "the largest frame payload the sender accepts",
        MAX_HEADER_LIST_SIZE => "the largest header list the sender accepts",
        ENABLE_CONNECT_PROTOCOL => "allows extended CONNECT (RFC 8441)",
        NO_RFC7540_PRIORITIES => "the sender does not use RFC 7540 priorities",
        GRPC_TRUE_BINARY => "gRPC's own: both sides may send -bin metadata as raw bytes",
        _ => "a setting grpcscope does not know; receivers ignore it (§6.5.2)",
    }
}
