//! Building the detail tree of a call, a frame, a TCP packet or a connection.

use super::tree::{Link, Tone, Tree};
use crate::analysis::channels::{self, Channel, Reconnect};
use crate::analysis::doctor::{Finding, Severity};
use crate::analysis::pipeline::ConnReport;
use crate::grpc::message::{decompress, Codec, DecompressError};
use crate::grpc::{Call, Message, Origin};
use crate::h2::frame::{error_name, setting_name, Body, HEADER_LEN};
use crate::h2::{Frame, HeaderBlock};
use crate::present::data_layout::DataLayout;
use crate::present::{describe_field, summary};
use crate::present::{status_cell, Decoder};
use crate::proto::tree::{fields_within, FieldNode};
use crate::time::{human_duration, Timestamp};
use bytes::Bytes;

fn tone_of(origin: Option<Origin>) -> Tone {
    match origin {
        Some(Origin::None) => Tone::Good,
        Some(Origin::Application) => Tone::AppError,
        Some(Origin::Transport) => Tone::Bad,
        _ => Tone::Dim,
    }
}

/// The nine header bytes of a frame followed by its payload.
pub fn frame_bytes(f: &Frame) -> Bytes {
    let h = &f.header;
    let mut b = Vec::with_capacity(HEADER_LEN + f.payload.len());
    b.extend_from_slice(&h.length.to_be_bytes()[1..]);
    b.push(h.kind.0);
    b.push(h.flags);
    let sid = h.stream_id | if h.reserved_bit { 0x8000_0000 } else { 0 };
    b.extend_from_slice(&sid.to_be_bytes());
    b.extend_from_slice(&f.payload);
    Bytes::from(b)
}

/// The TLS records a decrypted frame came in: a node each, selecting the
/// bytes it carried, and the record as captured beside the plaintext.
fn tls_records(t: &mut Tree, root: usize, src: usize, f: &Frame) {
    if f.carriers.is_empty() {
        return;
    }
    let end = f.offset + HEADER_LEN as u64 + u64::from(f.header.length);
    let node = t.add(Some(root), format!("carried by {} TLS record(s)", f.carriers.len()), Tone::Heading, None);
    for c in &f.carriers {
        let Some(r) = c.overlap(&(f.offset..end)) else { continue };
        let carries = (r.start - f.offset) as usize..(r.end - f.offset) as usize;
        let described = crate::present::CarrierRecord::new(c).describe();
        t.add(
            Some(node),
            format!("{described}: frame bytes {}..{}", carries.start, carries.end),
            Tone::Plain,
            Some((src, carries.clone())),
        );
        if let Some(data) = &c.captured_bytes {
            let at = c.plain_at as usize + (r.start - c.plain.start) as usize;
            t.captured(src, super::tree::CapturedPart { title: described, data: data.clone(), carries, at });
        }
    }
}

/// A TLS connection: what its handshake showed, its certificates, its
/// alerts, and whether (or why not) it was decrypted.
fn tls_tree(t: &mut Tree, root: usize, tls: &crate::tls::TlsSummary) {
    use crate::present::text::clean;
    let tone = if tls.undecrypted() { Tone::AppError } else { Tone::Plain };
    let id = t.add(Some(root), "TLS", Tone::Heading, None);
    t.add(Some(id), clean(&tls.describe()).into_owned(), tone, None);
    let certs = tls.server_certificates.iter().chain(&tls.client_certificates);
    for (line, cert) in tls.certificate_lines().into_iter().zip(certs) {
        let tone = if cert.validity == crate::tls::Validity::Valid { Tone::Plain } else { Tone::Bad };
        t.add(Some(id), clean(&line).into_owned(), tone, None);
    }
    for (line, alert) in tls.alert_lines().into_iter().zip(&tls.alerts) {
        let tone = if alert.is_fatal() { Tone::Bad } else { Tone::Dim };
        t.add(Some(id), clean(&line).into_owned(), tone, None);
    }
    if let Some(why) = tls.probable_rejection() {
        t.add(Some(id), why, Tone::AppError, None);
    }
    t.expand(id);
}

fn add_fields(t: &mut Tree, parent: usize, src: usize, nodes: &[FieldNode]) {
    for n in nodes {
        let id = t.add(Some(parent), n.label.clone(), Tone::Plain, Some((src, n.range.clone())));
        add_fields(t, id, src, &n.children);
    }
}

fn add_block(t: &mut Tree, parent: usize, title: &str, block: &HeaderBlock) {
    let src = t.source(format!("{title}: HPACK header block"), block.bytes.clone());
    let node = t.add(
        Some(parent),
        format!("{title} ({} fields, {} bytes of HPACK)", block.decoded.fields.len(), block.bytes.len()),
        Tone::Heading,
        Some((src, 0..block.bytes.len())),
    );
    for f in &block.decoded.fields {
        let tone = if f.is_unknown() { Tone::Dim } else { Tone::Plain };
        let id = t.add(Some(node), format!("{}: {}", f.name_str(), f.value_str()), tone, Some((src, f.range.clone())));
        t.add(Some(id), describe_field(f), Tone::Dim, Some((src, f.range.clone())));
    }
    for u in &block.decoded.size_updates {
        t.add(
            Some(node),
            format!("dynamic table size update to {} ({} evicted)", u.max_size, u.evicted),
            Tone::Dim,
            None,
        );
    }
    if let Some(e) = &block.decoded.error {
        t.add(Some(node), e.to_string(), Tone::Bad, None);
    }
    t.expand(node);
}

/// Messages a call's tree lists at most each way; the rest are counted.
pub const MAX_MESSAGES_SHOWN: usize = 1_000;

/// Decompressed message bytes one call's tree holds at most.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

/// What one call's tree may still spend: its messages' fields and decoded
/// bytes are bounded together, so the row selected in a stream of a
/// million (or of a few huge compressed) messages costs the UI a bounded
/// amount, like the CLI's render budget.
struct TreeBudget {
    fields: usize,
    decoded: usize,
}

impl Default for TreeBudget {
    fn default() -> Self {
        TreeBudget { fields: crate::proto::tree::MAX_CALL_FIELDS, decoded: MAX_DECODED_BYTES }
    }
}

/// The messages of one direction, the first [`MAX_MESSAGES_SHOWN`] of them.
fn add_messages(t: &mut Tree, root: usize, call: &Call, request: bool, dec: &Decoder, budget: &mut TreeBudget) {
    let msgs = if request { &call.requests } else { &call.responses };
    if msgs.is_empty() {
        return;
    }
    let title = if request { "requests" } else { "responses" };
    let id = t.add(Some(root), format!("{title} ({})", msgs.len()), Tone::Heading, None);
    for (i, m) in msgs.iter().enumerate().take(MAX_MESSAGES_SHOWN) {
        add_message(t, id, call, m, i, request, dec, budget);
    }
    if msgs.len() > MAX_MESSAGES_SHOWN {
        let more = msgs.len() - MAX_MESSAGES_SHOWN;
        t.add(
            Some(id),
            format!("… {more} more not shown: the tree lists {MAX_MESSAGES_SHOWN} each way (`grpcscope calls -v --format json` has them all)"),
            Tone::Dim,
            None,
        );
    }
    t.expand(id);
}

#[allow(clippy::too_many_arguments)]
fn add_message(
    t: &mut Tree,
    parent: usize,
    call: &Call,
    m: &Message,
    i: usize,
    request: bool,
    dec: &Decoder,
    budget: &mut TreeBudget,
) {
    let types = dec.method_types(call);
    let source = types.as_ref().and_then(|(_, _, s)| s.as_ref()).map(|s| format!(" ({s})")).unwrap_or_default();
    let desc = types.map(|(a, b, _)| if request { a } else { b });
    let type_name = desc.as_ref().map_or("no schema".to_string(), |d| format!("{}{source}", d.full_name()));
    let mut label = format!("#{} {type_name}: {} bytes", i + 1, m.length);
    if m.compressed {
        label.push_str(" (compressed)");
    }
    let Some(raw) = &m.data else {
        let id = t.add(Some(parent), label, Tone::Bad, None);
        t.add(Some(id), m.error.clone().unwrap_or_else(|| "not captured".into()), Tone::Bad, None);
        return;
    };
    let bytes = if m.compressed {
        let codec = call.encoding(request).as_deref().and_then(Codec::from_header);
        let limit = dec.max_decompressed.min(budget.decoded);
        match codec.map(|c| decompress(c, raw, limit)) {
            Some(Ok(b)) => {
                budget.decoded -= b.len().min(budget.decoded);
                Bytes::from(b)
            }
            Some(Err(e)) => {
                let id = t.add(Some(parent), label, Tone::Bad, None);
                let why = match e {
                    DecompressError::Limit { .. } if limit < dec.max_decompressed => format!(
                        "not decompressed here: this call's tree already holds {} of decoded messages (`grpcscope calls -v` decodes every one)",
                        crate::present::text::human_bytes(MAX_DECODED_BYTES as u64)
                    ),
                    e => e.to_string(),
                };
                t.add(Some(id), why, Tone::Bad, None);
                return;
            }
            None => raw.clone(),
        }
    } else {
        raw.clone()
    };
    if dec.redact.as_ref().is_some_and(|r| r.has_fields()) {
        // --redact-field: the decoded message with the fields hashed, not its bytes.
        let d = dec.message(call, m, request);
        let id = t.add(Some(parent), label, Tone::Plain, None);
        match (d.json, d.error) {
            (Some(j), _) => add_json(t, id, "message", &j.tree(), &mut budget.fields),
            (None, e) => {
                t.add(Some(id), e.unwrap_or_else(|| "withheld".into()), Tone::Bad, None);
            }
        }
        t.expand(id);
        return;
    }
    let src = t.source(format!("message #{} ({type_name})", i + 1), bytes.clone());
    let id = t.add(Some(parent), label, Tone::Plain, Some((src, 0..bytes.len())));
    let mut left = budget.fields.min(crate::proto::tree::MAX_FIELDS);
    let before = left;
    let parsed = fields_within(&bytes, desc.as_ref(), &mut left);
    budget.fields -= before - left;
    match parsed {
        Ok(nodes) => add_fields(t, id, src, &nodes),
        Err(e) => {
            t.add(Some(id), format!("not a protobuf message: {e}"), Tone::Bad, None);
        }
    }
    t.expand(id);
}

/// A decoded JSON value as nodes, spending `left` (one per node). Its depth
/// is bounded by the decoder's nesting limit, which made it.
fn add_json(t: &mut Tree, parent: usize, key: &str, v: &serde_json::Value, left: &mut usize) {
    if *left == 0 {
        return;
    }
    *left -= 1;
    match v {
        serde_json::Value::Object(m) => {
            let id = t.add(Some(parent), key.to_string(), Tone::Plain, None);
            for (k, x) in m {
                add_json(t, id, k, x, left);
            }
            json_cut(t, id, *left);
            t.expand(id);
        }
        serde_json::Value::Array(a) => {
            let id = t.add(Some(parent), format!("{key} [{}]", a.len()), Tone::Plain, None);
            for (i, x) in a.iter().enumerate() {
                add_json(t, id, &i.to_string(), x, left);
            }
            json_cut(t, id, *left);
            t.expand(id);
        }
        other => {
            t.add(Some(parent), format!("{key}: {other}"), Tone::Plain, None);
        }
    }
}

/// Marks where a JSON tree stopped because its budget ran out.
fn json_cut(t: &mut Tree, id: usize, left: usize) {
    if left == 0 {
        t.add(Some(id), "… the rest not shown: a call's tree stops at its field budget", Tone::Dim, None);
    }
}

fn at(ts: Timestamp, start: Timestamp) -> String {
    format!("{} (+{})", ts.clock(), human_duration(ts.nanos_since(start)))
}

/// The tree of a call.
pub fn call_tree(call: &Call, dec: &Decoder) -> Tree {
    let mut t = Tree::default();
    let root = call_head(&mut t, call);
    call_body(&mut t, root, call, dec);
    t
}

/// The tree of a call listed without its bytes while they are re-read
/// from the capture (or when they cannot be): what the list knows, and why
/// the headers' encodings and the messages are not shown yet.
pub fn waiting_call_tree(call: &Call, why: &str) -> Tree {
    let mut t = Tree::default();
    let root = call_head(&mut t, call);
    t.add(Some(root), why, Tone::Bad, None);
    t.expand(root);
    t
}

/// The call's first lines: what, its status and its timing.
fn call_head(t: &mut Tree, call: &Call) -> usize {
    let method = crate::present::method_label(call);
    let root = t.add(None, format!("conn {} stream {}  {method}", call.conn, call.stream_id), Tone::Heading, None);
    t.link(root, Link::Frames { conn: call.conn, stream: call.stream_id });
    let (status, origin) = status_cell(call);
    let (o, transport) = call.verdict();
    let why = match (&o, &transport) {
        (_, Some(tr)) => format!("transport: {}", tr.detail),
        (Origin::Application, _) => format!("application: {}", call.grpc_message().unwrap_or_default()),
        (Origin::Unknown, _) => "the status could not be read".into(),
        _ => "OK".into(),
    };
    let status_line = if why == "OK" { format!("status: {status}") } else { format!("status: {status} ({why})") };
    t.add(Some(root), status_line, tone_of(origin), None);
    let timing = t.add(Some(root), "timing", Tone::Heading, None);
    t.add(Some(timing), format!("start {} {} UTC", call.start.date(), call.start.clock()), Tone::Plain, None);
    if let Some(f) = call.first_response {
        t.add(Some(timing), format!("first response byte {}", at(f, call.start)), Tone::Plain, None);
    }
    t.add(
        Some(timing),
        call.end.map_or("end: not seen (capture ended first)".into(), |e| format!("end {}", at(e, call.start))),
        Tone::Plain,
        None,
    );
    if let Some(d) = call.timeout_nanos() {
        t.add(Some(timing), format!("deadline {} (grpc-timeout)", human_duration(d as i64)), Tone::Plain, None);
    }
    root
}

/// The call's headers, messages, trailers and status details.
fn call_body(t: &mut Tree, root: usize, call: &Call, dec: &Decoder) {
    let titles = ["request headers", "response headers", "trailers"];
    if let Some(b) = call.blocks.first().and_then(|b| b.as_ref()).and_then(|h| h.wire::<HeaderBlock>()) {
        add_block(t, root, titles[0], b);
    }
    let mut budget = TreeBudget::default();
    add_messages(t, root, call, true, dec, &mut budget);
    if let Some(b) = call.blocks.get(1).and_then(|b| b.as_ref()).and_then(|h| h.wire::<HeaderBlock>()) {
        add_block(t, root, titles[1], b);
    }
    add_messages(t, root, call, false, dec, &mut budget);
    if let Some(body) = &call.response_body {
        let src = t.source("response body (not gRPC)", body.clone());
        t.add(
            Some(root),
            format!(
                "response body (not gRPC): {:?}",
                String::from_utf8_lossy(body).chars().take(80).collect::<String>()
            ),
            Tone::Bad,
            Some((src, 0..body.len())),
        );
    }
    if let Some(b) = call.blocks.get(2).and_then(|b| b.as_ref()).and_then(|h| h.wire::<HeaderBlock>()) {
        add_block(t, root, if call.trailers_only { "trailers (Trailers-Only)" } else { titles[2] }, b);
    }
    if let Some(d) = call.status_details() {
        match dec.schema_for(call.server).status_details(&d) {
            Ok(v) => {
                let id = t.add(Some(root), "status details (google.rpc.Status)", Tone::Heading, None);
                if let serde_json::Value::Object(m) = v {
                    // Its own budget: the status must show even after huge messages.
                    let mut left = crate::proto::tree::MAX_FIELDS;
                    for (k, x) in &m {
                        add_json(t, id, k, x, &mut left);
                    }
                }
                t.expand(id);
            }
            Err(e) => {
                t.add(Some(root), format!("status details not decodable: {e}"), Tone::Bad, None);
            }
        }
    }
    for n in &call.notes {
        t.add(Some(root), format!("! {}", n.text), Tone::Bad, None);
    }
    let frames = t.add(Some(root), "frames of this call (Enter or F: show them)", Tone::Dim, None);
    t.link(frames, Link::Frames { conn: call.conn, stream: call.stream_id });
    let conn = t.add(Some(root), format!("connection {} (Enter or C: show it)", call.conn), Tone::Dim, None);
    t.link(conn, Link::Conn(call.conn));
    t.expand(root);
}

/// The tree of a frame: its header and payload fields at their byte offsets.
pub fn frame_tree(f: &Frame, layout: Option<&DataLayout>) -> Tree {
    let mut t = Tree::default();
    let bytes = frame_bytes(f);
    let total = bytes.len();
    let src = t.source(format!("frame: {} on stream {}", f.header.kind.name(), f.header.stream_id), bytes);
    let h = &f.header;
    let root = t.add(
        None,
        format!(
            "{} frame, stream {}, {} bytes ({})",
            h.kind.name(),
            h.stream_id,
            h.length,
            if f.dir == crate::tcp::Dir::ToServer { "client -> server" } else { "server -> client" }
        ),
        Tone::Heading,
        Some((src, 0..total)),
    );
    let hdr = t.add(Some(root), "frame header (9 bytes, RFC 9113 §4.1)", Tone::Heading, Some((src, 0..HEADER_LEN)));
    t.add(Some(hdr), format!("length: {}", h.length), Tone::Plain, Some((src, 0..3)));
    t.add(Some(hdr), format!("type: 0x{:x} {}", h.kind.0, h.kind.name()), Tone::Plain, Some((src, 3..4)));
    let names = h.kind.flag_names(h.flags);
    t.add(
        Some(hdr),
        format!("flags: 0x{:02x} {}", h.flags, if names.is_empty() { "-".into() } else { names.join("|") }),
        Tone::Plain,
        Some((src, 4..5)),
    );
    t.add(
        Some(hdr),
        format!("stream identifier: {}{}", h.stream_id, if h.reserved_bit { " (reserved bit set)" } else { "" }),
        Tone::Plain,
        Some((src, 5..9)),
    );
    let off = |r: std::ops::Range<usize>| HEADER_LEN + r.start..HEADER_LEN + r.end;
    let payload = t.add(Some(root), format!("payload: {}", summary(f)), Tone::Heading, Some((src, HEADER_LEN..total)));
    payload_fields(&mut t, payload, src, f, &off);
    if let Some(l) = layout {
        let tone = if matches!(l, DataLayout::Unknown(_)) { Tone::Dim } else { Tone::Plain };
        t.add(Some(payload), l.describe(), tone, None);
    }
    if let Some(flow) = &f.flow {
        let show = |w: Option<(i64, i64)>| w.map_or_else(|| "unknown".to_string(), |(a, b)| format!("{a} -> {b}"));
        t.add(
            Some(root),
            format!("flow control: stream window {}, connection window {}", show(flow.stream), show(flow.connection)),
            Tone::Dim,
            None,
        );
    }
    if let Some(s) = f.state {
        t.add(Some(root), format!("stream {} is now {}", h.stream_id, s.describe()), Tone::Dim, None);
    }
    for n in &f.notes {
        let tone = if n.level >= crate::h2::Level::Warning { Tone::Bad } else { Tone::Dim };
        t.add(Some(root), format!("! {}", n.text), tone, None);
    }
    t.add(
        Some(root),
        format!(
            "packet {}, offset {} in the {} {} stream",
            f.packet,
            f.offset,
            if f.dir == crate::tcp::Dir::ToServer { "client's" } else { "server's" },
            if f.carriers.is_empty() { "byte" } else { "decrypted" }
        ),
        Tone::Dim,
        None,
    );
    tls_records(&mut t, root, src, f);
    if h.stream_id != 0 {
        let l = t.add(Some(root), "the call on this stream (Enter: show it)", Tone::Dim, None);
        t.link(l, Link::CallsOf(f.conn));
    }
    t.expand(root);
    t.expand(hdr);
    t.expand(payload);
    t
}

fn payload_fields(
    t: &mut Tree,
    parent: usize,
    src: usize,
    f: &Frame,
    off: &dyn Fn(std::ops::Range<usize>) -> std::ops::Range<usize>,
) {
    let p = &f.payload;
    let padded = |t: &mut Tree, pad: Option<u8>, end: usize| {
        if let Some(pl) = pad {
            t.add(Some(parent), format!("pad length: {pl}"), Tone::Plain, Some((src, off(0..1))));
            t.add(Some(parent), format!("padding: {pl} bytes"), Tone::Dim, Some((src, off(end..p.len()))));
        }
    };
    match &f.body {
        Body::Data { pad_len, data } => {
            t.add(Some(parent), format!("data: {} bytes", data.len()), Tone::Plain, Some((src, off(data.clone()))));
            padded(t, *pad_len, data.end);
            if let Some(m) = &f.missing {
                t.add(
                    Some(parent),
                    format!("{} bytes never captured (zero-filled)", m.len()),
                    Tone::Bad,
                    Some((src, off((**m).clone()))),
                );
            }
        }
        Body::Headers { pad_len, priority, fragment } => {
            if let Some(pr) = priority {
                let s = fragment.start - 5;
                t.add(
                    Some(parent),
                    format!(
                        "priority: depends on {} weight {}{}",
                        pr.depends_on,
                        pr.weight,
                        if pr.exclusive { " exclusive" } else { "" }
                    ),
                    Tone::Plain,
                    Some((src, off(s..fragment.start))),
                );
            }
            padded(t, *pad_len, fragment.end);
            hpack_fields(t, parent, src, f, fragment.start, off);
        }
        Body::PushPromise { pad_len, promised_stream_id, fragment } => {
            t.add(
                Some(parent),
                format!("promised stream: {promised_stream_id}"),
                Tone::Plain,
                Some((src, off(fragment.start - 4..fragment.start))),
            );
            padded(t, *pad_len, fragment.end);
            hpack_fields(t, parent, src, f, fragment.start, off);
        }
        Body::Continuation { fragment } => hpack_fields(t, parent, src, f, fragment.start, off),
        Body::Settings { params, .. } => {
            for (i, (id, v)) in params.iter().enumerate() {
                t.add(
                    Some(parent),
                    format!("{} (0x{id:x}) = {v}", setting_name(*id)),
                    Tone::Plain,
                    Some((src, off(i * 6..i * 6 + 6))),
                );
            }
        }
        Body::RstStream { error_code } => {
            t.add(
                Some(parent),
                format!("error code: {} (0x{error_code:x})", error_name(*error_code)),
                Tone::Plain,
                Some((src, off(0..4))),
            );
        }
        Body::GoAway { last_stream_id, error_code, debug } => {
            t.add(Some(parent), format!("last stream id: {last_stream_id}"), Tone::Plain, Some((src, off(0..4))));
            t.add(
                Some(parent),
                format!("error code: {} (0x{error_code:x})", error_name(*error_code)),
                Tone::Plain,
                Some((src, off(4..8))),
            );
            if !debug.is_empty() {
                let text = p.get(debug.clone()).map(String::from_utf8_lossy).unwrap_or_default();
                t.add(Some(parent), format!("debug data: {text:?}"), Tone::Plain, Some((src, off(debug.clone()))));
            }
        }
        Body::WindowUpdate { increment } => {
            t.add(Some(parent), format!("window size increment: {increment}"), Tone::Plain, Some((src, off(0..4))));
        }
        Body::Ping { ack, opaque } => {
            let hex: String = opaque.iter().map(|b| format!("{b:02x}")).collect();
            t.add(
                Some(parent),
                format!("{}opaque data: {hex}", if *ack { "ACK, " } else { "" }),
                Tone::Plain,
                Some((src, off(0..8))),
            );
        }
        Body::Priority(pr) => {
            t.add(
                Some(parent),
                format!(
                    "depends on {} weight {}{}",
                    pr.depends_on,
                    pr.weight,
                    if pr.exclusive { " exclusive" } else { "" }
                ),
                Tone::Plain,
                Some((src, off(0..5))),
            );
        }
        Body::Unknown => {
            t.add(
                Some(parent),
                "an extension frame type: ignored, as RFC 9113 §4.1 says",
                Tone::Dim,
                Some((src, off(0..p.len()))),
            );
        }
        Body::Malformed(why) => {
            t.add(Some(parent), format!("malformed: {why}"), Tone::Bad, None);
        }
    }
}

/// Header fields, at their bytes: in the frame when the block is this
/// frame's fragment alone, else in the block as a source of its own.
fn hpack_fields(
    t: &mut Tree,
    parent: usize,
    src: usize,
    f: &Frame,
    frag_start: usize,
    off: &dyn Fn(std::ops::Range<usize>) -> std::ops::Range<usize>,
) {
    let Some(b) = &f.block else {
        t.add(Some(parent), "header block fragment (the block continues in CONTINUATION frames)", Tone::Dim, None);
        return;
    };
    let single = b.fragments.len() == 1;
    let block_src = if single { src } else { t.source("header block (all fragments)", b.bytes.clone()) };
    for field in &b.decoded.fields {
        let range = if single {
            off(frag_start + field.range.start..frag_start + field.range.end)
        } else {
            field.range.clone()
        };
        let tone = if field.is_unknown() { Tone::Dim } else { Tone::Plain };
        let id = t.add(
            Some(parent),
            format!("{}: {}", field.name_str(), field.value_str()),
            tone,
            Some((block_src, range.clone())),
        );
        t.add(Some(id), describe_field(field), Tone::Dim, Some((block_src, range)));
    }
    if let Some(table) = &b.table_after {
        let id = t.add(
            Some(parent),
            format!("dynamic table after this block: {} entries, {} bytes", table.len(), b.table_size),
            Tone::Dim,
            None,
        );
        for (i, (n, v, size)) in table.iter().enumerate() {
            t.add(Some(id), format!("[{}] {n}: {v} ({size} bytes)", 62 + i), Tone::Dim, None);
        }
    }
}

/// The tree of a connection.
pub fn conn_tree(
    r: &ConnReport,
    channel: Option<(usize, &Channel)>,
    reconnect: Option<&Reconnect>,
    followed_by: Option<(u64, f64)>,
) -> Tree {
    let mut t = Tree::default();
    let c = &r.tcp;
    let root = t.add(None, format!("connection {}: {} -> {}", c.id, c.client, c.server), Tone::Heading, None);
    for (who, ip, n) in r.named_hosts() {
        t.add(Some(root), format!("{who} {ip}: {}", n.described()), Tone::Plain, None);
    }
    if let Some((n, ch)) = channel {
        // Short: the detail pane is narrow; the connection ids are one Enter away.
        let label = format!(
            "channel {}: {} reconnects, {} failed attempts in {} connections",
            n + 1,
            ch.reconnects,
            ch.failed_attempts,
            ch.conns.len()
        );
        let id = t.add(
            Some(root),
            label,
            if ch.reconnects + ch.failed_attempts + ch.tls_failures > 0 { Tone::AppError } else { Tone::Plain },
            None,
        );
        let ids: Vec<String> = ch.conns.iter().map(u64::to_string).collect();
        t.add(Some(id), format!("connections {}", ids.join(" ")), Tone::Plain, None);
        t.add(Some(id), format!("from host {} to {}", ch.client, ch.server), Tone::Plain, None);
    }
    t.add(
        Some(root),
        format!("ended: {}", channels::why_ended(r)),
        if c.end.is_closed() { Tone::Plain } else { Tone::Dim },
        None,
    );
    if let Some(rc) = reconnect {
        let id = t.add(
            Some(root),
            format!(
                "reconnect of connection {}, {:.1} ms after it ended ({})",
                rc.reconnect_of, rc.gap_ms, rc.previous_end
            ),
            Tone::AppError,
            None,
        );
        t.link(id, Link::Conn(rc.reconnect_of));
    }
    if let Some((next, gap)) = followed_by {
        let id = t.add(
            Some(root),
            format!("followed by connection {next}, {gap:.1} ms later (Enter: show it)"),
            Tone::AppError,
            None,
        );
        t.link(id, Link::Conn(next));
    }
    let calls = t.add(
        Some(root),
        format!(
            "calls: {} ({} ok, {} application errors, {} transport errors)",
            r.calls.total, r.calls.ok, r.calls.application, r.calls.transport
        ),
        if r.calls.transport > 0 { Tone::Bad } else { Tone::Plain },
        None,
    );
    t.link(calls, Link::CallsOf(c.id));
    let ladder = t.add(Some(root), "bring-up", Tone::Heading, None);
    for (ts, step) in crate::present::ladder(r) {
        t.add(Some(ladder), format!("{}  {step}", ts.clock()), Tone::Plain, None);
    }
    t.expand(ladder);
    if let Some(h) = &r.h2 {
        for (who, list) in [("client", &h.client_settings), ("server", &h.server_settings)] {
            if let Some(s) = list.first() {
                let id = t.add(Some(root), format!("{who} SETTINGS"), Tone::Heading, None);
                for (k, v) in &s.params {
                    t.add(Some(id), format!("{} = {v}", setting_name(*k)), Tone::Plain, None);
                }
            }
        }
        if !h.pings.is_empty() {
            let id = t.add(Some(root), format!("PINGs ({})", h.pings.len()), Tone::Heading, None);
            for p in &h.pings {
                t.add(
                    Some(id),
                    format!(
                        "{} from {}: {}",
                        p.ts.clock(),
                        p.from,
                        p.rtt_nanos.map_or("no ACK".into(), |n| format!("round trip {}", human_duration(n)))
                    ),
                    Tone::Plain,
                    None,
                );
            }
        }
        for g in &h.goaways {
            t.add(
                Some(root),
                format!(
                    "GOAWAY from {} at {}: {}, last stream {} {}",
                    g.from,
                    g.ts.clock(),
                    g.error_name,
                    g.last_stream_id,
                    g.debug
                ),
                Tone::AppError,
                None,
            );
        }
    }
    if let Some(tls) = &r.tls {
        tls_tree(&mut t, root, tls);
    }
    let tcp = t.add(Some(root), "TCP", Tone::Heading, None);
    for (name, d) in [("client -> server", &c.dirs[0]), ("server -> client", &c.dirs[1])] {
        t.add(
            Some(tcp),
            format!(
                "{name}: {} packets, {} bytes, {} retransmitted, {} out of order, {} bytes never captured",
                d.packets, d.bytes, d.retransmitted, d.out_of_order, d.gap_bytes
            ),
            if d.gap_bytes > 0 { Tone::Bad } else { Tone::Plain },
            None,
        );
    }
    if let Some(rtt) = c.handshake_rtt_nanos() {
        t.add(Some(tcp), format!("handshake round trip {}", human_duration(rtt)), Tone::Plain, None);
    }
    t.expand(root);
    t
}

/// The tree of a frame the list keeps only as a summary while it is
/// re-read from the capture (or when it cannot be).
pub fn waiting_frame_tree(m: &super::rows::FrameMeta, why: &str) -> Tree {
    let mut t = Tree::default();
    let h = &m.header;
    let root = t.add(
        None,
        format!("{} frame, stream {}, {} bytes (packet {})", h.kind.name(), h.stream_id, h.length, m.packet),
        Tone::Heading,
        None,
    );
    t.add(Some(root), m.summary.to_string(), Tone::Plain, None);
    t.add(Some(root), why, Tone::Bad, None);
    t.link(root, Link::Conn(m.conn));
    t.expand(root);
    t
}

/// The tree of a TCP moment, a preface or lost bytes.
pub fn moment_tree(row: &super::model::FrameRow) -> Tree {
    use super::model::FrameRow;
    let mut t = Tree::default();
    let (title, lines): (String, Vec<String>) = match row {
        FrameRow::Tcp { conn, dir, ts, flags, packet } => (
            format!("TCP {} from the {} (conn {conn})", flags.tcpdump(), dir.sender()),
            vec![format!("time {}", ts.clock()), format!("packet {packet}"), tcp_meaning(flags).to_string()],
        ),
        FrameRow::Preface { conn, ts, packet } => (
            format!("HTTP/2 client connection preface (conn {conn})"),
            vec![
                format!("time {}", ts.clock()),
                format!("packet {packet}"),
                "\"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\": 24 bytes that say HTTP/2 follows (RFC 9113 §3.4)".into(),
            ],
        ),
        FrameRow::Lost { conn, dir, ts, bytes } => (
            format!("{bytes} bytes never captured (conn {conn}, {} side)", dir.sender()),
            vec![
                format!("time {}", ts.clock()),
                "frames were lost or cut; grpcscope found frame boundaries again after them".into(),
            ],
        ),
        FrameRow::Frame(m) => return waiting_frame_tree(m, "select it in the Frames view for its bytes"),
    };
    let root = t.add(None, title, Tone::Heading, None);
    for l in lines {
        t.add(Some(root), l, Tone::Plain, None);
    }
    t.link(root, Link::Conn(row.conn()));
    t.expand(root);
    t
}

fn tcp_meaning(f: &crate::net::TcpFlags) -> &'static str {
    match (f.syn, f.ack, f.fin, f.rst) {
        (true, false, _, _) => "SYN: the client asks to open a connection (RFC 9293 §3.5)",
        (true, true, _, _) => "SYN-ACK: the server accepts",
        (_, _, _, true) => "RST: the connection is aborted at once; anything in flight is lost",
        (_, _, true, _) => "FIN: this side has nothing more to send",
        _ => "ACK: the handshake is complete",
    }
}

/// Paragraphs of a finding are wrapped this wide in the detail pane.
const FINDING_WIDTH: usize = 72;

/// A finding of `doctor`: its evidence (each call and connection one Enter
/// away), why it happens and what to change.
pub fn finding_tree(f: &Finding) -> Tree {
    let mut t = Tree::default();
    let tone = match f.severity {
        Severity::Error => Tone::Bad,
        Severity::Warning => Tone::AppError,
        Severity::Info => Tone::Dim,
    };
    let rule = f.rule.name();
    let root = t.add(None, format!("{} {rule}", f.severity.label()), tone, None);
    t.expand(root);
    for line in crate::present::text::wrap_words(&f.title, FINDING_WIDTH) {
        t.add(Some(root), line, Tone::Heading, None);
    }
    let e = &f.evidence;
    let seen = t.add(Some(root), format!("seen ({} in all)", e.count), Tone::Heading, None);
    t.expand(seen);
    for c in &e.calls {
        let id = t.add(Some(seen), format!("call {} (conn {} stream {})", c.call, c.conn, c.stream), Tone::Plain, None);
        t.link(id, Link::Call { conn: c.conn, stream: c.stream });
    }
    for conn in &e.conns {
        let id = t.add(Some(seen), format!("conn {conn}"), Tone::Plain, None);
        t.link(id, Link::Conn(*conn));
    }
    if !e.packets.is_empty() {
        let packets: Vec<String> = e.packets.iter().map(u64::to_string).collect();
        let label = if packets.len() == 1 { "packet" } else { "packets" };
        t.add(Some(seen), format!("{label} {}", packets.join(", ")), Tone::Dim, None);
    }
    for (label, text) in [("why", &f.explanation), ("fix", &f.advice)] {
        let id = t.add(Some(root), label, Tone::Heading, None);
        t.expand(id);
        for line in crate::present::text::wrap_words(text, FINDING_WIDTH) {
            t.add(Some(id), line, Tone::Plain, None);
        }
    }
    if f.inference {
        t.add(Some(root), "note: an inference from what the capture shows, not a decoded fact", Tone::Dim, None);
    }
    t
}
