//! Plain-English explanations of what crosses the wire, with the RFC
//! section for each step: for the TUI's explain panel and `grpcscope explain`.

use crate::h2::frame::{error_name, flags, setting_name, Body};
use crate::h2::Frame;
use crate::output::frames::describe_repr;
use crate::tcp::Dir;

fn who(d: Dir) -> (&'static str, &'static str) {
    match d {
        Dir::ToServer => ("the client", "the server"),
        Dir::ToClient => ("the server", "the client"),
    }
}

/// What a frame means, in a few sentences.
pub fn frame(f: &Frame) -> String {
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
            s.push_str(" In gRPC these bytes are Length-Prefixed-Messages: a 1-byte compressed flag and a 4-byte length, then the protobuf message.");
            if let Some(flow) = &f.flow {
                if let Some((a, b)) = flow.stream {
                    s.push_str(&format!(" Flow control (§5.2): the stream's window goes from {a} to {b} bytes"));
                    if let Some((c, d)) = flow.connection {
                        s.push_str(&format!(", the connection's from {c} to {d}"));
                    }
                    s.push_str(&format!("; {from} may send no more until {to} sends WINDOW_UPDATE."));
                }
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
                    "It opens a gRPC call: :path names the method (/package.Service/Method)."
                } else if is_trailers {
                    "These are trailers: grpc-status says how the call ended (0 is OK), grpc-message why."
                } else {
                    "These are the response headers: :status 200 and the content-type."
                };
                s.push_str(&format!(". {role}\n"));
                for field in &b.decoded.fields {
                    s.push_str(&format!("  {}: {}  <- {}\n", field.name_str(), field.value_str(), hpack_sentence(field)));
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
        Body::WindowUpdate { increment } => s.push_str(&format!(
            "WINDOW_UPDATE (§6.9): {from} grants {to} {increment} more bytes of {} flow-control window.",
            if h.stream_id == 0 { "connection".to_string() } else { format!("stream {}", h.stream_id) }
        )),
        Body::Ping { ack: false, .. } => s.push_str(&format!("PING (§6.7): {from} checks the connection is alive; {to} must echo the 8 bytes with ACK. The gap is a round-trip time.")),
        Body::Ping { ack: true, .. } => s.push_str(&format!("PING ACK (§6.7): {from} echoes {to}'s PING.")),
        Body::Priority(_) => s.push_str("PRIORITY (§6.3): a stream dependency hint, deprecated by RFC 9113; gRPC does not use it."),
        Body::Unknown => s.push_str("An extension frame type: receivers ignore types they do not know (§4.1)."),
        Body::Malformed(why) => s.push_str(&format!("This frame breaks its type's rules: {why}.")),
    }
    s
}

/// How HPACK encoded one field, in words: `static index 2 means :method: GET`...
pub fn hpack_sentence(f: &crate::h2::hpack::HeaderField) -> String {
    use crate::h2::hpack::Representation::*;
    let r = &f.repr;
    let mut s = match (r.kind, r.index) {
        (Indexed, Some(i)) if i <= 61 => {
            format!("1 byte: static table index {i} means exactly this name and value (§6.1)")
        }
        (Indexed, Some(i)) => format!("dynamic table index {i}: a field sent earlier on this connection (§6.1)"),
        _ => describe_repr(r),
    };
    if let Some(v) = &r.value_literal {
        if v.huffman {
            s.push_str(&format!(
                "; the value was Huffman-coded from {} to {} bytes (§5.2)",
                v.decoded_len, v.encoded_len
            ));
        }
    }
    if r.kind == IncrementalIndexing {
        s.push_str("; it was added to the dynamic table at index 62 (§6.2.1)");
    }
    if f.is_unknown() {
        s = "refers to a dynamic-table entry inserted before the capture began: unknown".into();
    }
    s
}

fn setting_meaning(id: u16) -> &'static str {
    match id {
        1 => "the largest HPACK dynamic table the sender accepts for what it receives",
        2 => "0 forbids server push (gRPC never uses it)",
        3 => "how many streams (calls) the peer may open at once",
        4 => "the initial flow-control window of every stream, in bytes",
        5 => "the largest frame payload the sender accepts",
        6 => "the largest header list the sender accepts",
        8 => "allows extended CONNECT (RFC 8441)",
        9 => "the sender does not use RFC 7540 priorities",
        0xfe03 => "gRPC's own: both sides may send -bin metadata as raw bytes",
        _ => "a setting grpcscope does not know; receivers ignore it (§6.5.2)",
    }
}
