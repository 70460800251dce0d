//! The entry points of the fuzz targets (`fuzz/`, run with cargo-fuzz) and
//! of the corpus regression test (`tests/fuzz_corpora.rs`, run on stable by
//! `cargo test`). Each takes arbitrary bytes, turns them into input for one
//! layer and runs it; none may panic, hang or allocate without bound. See
//! docs/robustness.md.
//!
//! Where a layer takes structured input (TCP segments, frames split across
//! reads), the bytes are read as a small record format described on each
//! function, so the fuzzer explores the layer's state machine rather than
//! the parsing of a container format.

use crate::analysis::stats::Stats;
use crate::analysis::{Pipeline, PipelineConfig};
use crate::grpc::message::{decompress, Assembler, Codec};
use crate::grpc::MessageLimits;
use crate::h2::{hpack, H2Config, H2Conn};
use crate::net::{Segment, TcpFlags};
use crate::output::calls::CallsPrinter;
use crate::output::frames::{FrameSelection, FramesPrinter};
use crate::output::Format;
use crate::tcp::{Dir, FlowTable, TcpConfig};
use crate::time::Timestamp;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// Reads little records off the front of fuzz input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }

    /// Up to `n` bytes (fewer at the end of input).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// A whole capture file (pcap, pcapng, compressed or not) through the whole
/// pipeline into `stats`, then into `calls -v` and `frames -v` as text,
/// whose every line must be free of control characters (a capture must not
/// reach the terminal).
pub fn capture_file(data: &[u8]) {
    let Ok((packets, _warnings)) = crate::capture::file::packets_from_bytes(data) else { return };
    let mut p = Pipeline::new(PipelineConfig::new(), Stats::default());
    for pkt in &packets {
        // Statistics never stop a run.
        let _ = p.packet(pkt);
    }
    p.finish();
    let _ = p.sink.hops.report();

    let calls = CallsPrinter::new(Vec::new(), Format::Text, true, false, true, text_decoder());
    let mut printer = run_into(&packets, calls);
    printer.flush();
    no_control_characters(&printer.into_inner());
    let frames = FramesPrinter::new(Vec::new(), Format::Text, true, FrameSelection::default());
    no_control_characters(&run_into(&packets, frames).into_inner());
}

/// The pipeline over `packets` into `sink`, which is handed back.
fn run_into<S: crate::analysis::Sink>(packets: &[crate::capture::Packet], sink: S) -> S {
    let mut p = Pipeline::new(PipelineConfig::new(), sink);
    for pkt in packets {
        if p.packet(pkt).is_break() {
            break;
        }
    }
    p.finish();
    p.sink
}

/// The built-in schemas, compiled once per process (compiling them is
/// most of an execution's time otherwise).
fn builtin_schema() -> crate::proto::Schema {
    static SCHEMA: std::sync::OnceLock<crate::proto::Schema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(crate::proto::Schema::builtin).clone()
}

/// A decoder with the built-in schemas.
fn text_decoder() -> crate::present::Decoder {
    crate::present::Decoder::new(builtin_schema(), 1 << 20, None, 1 << 20)
}

/// The invariant of every text printer: only newlines end lines, nothing
/// else below 0x20, no DEL, no C1 control.
fn no_control_characters(out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let bad = text.lines().find(|l| l.chars().any(char::is_control));
    assert!(bad.is_none(), "a control character reached text output: {bad:?}");
}

/// Arbitrary TCP segments into a small flow table. Each record is
/// `[endpoints] [flags] [seq u32] [ack u32] [time step] [len] [payload]`:
/// the endpoint byte picks one of four clients, two servers and a
/// direction, so connections open, collide, reuse ports and get evicted.
pub fn tcp_segments(data: &[u8]) {
    let cfg = TcpConfig {
        max_buffered_per_direction: 4096,
        max_connections: 4,
        idle_timeout_nanos: 5_000_000_000,
        handshake_timeout_nanos: 1_000_000_000,
        closed_linger_nanos: 1_000_000_000,
        ..TcpConfig::default()
    };
    let mut table = FlowTable::new(cfg);
    let mut tiles = Tiling::default();
    let mut events = Vec::new();
    let mut r = Reader(data);
    let mut now = Timestamp::from_parts(1_700_000_000, 0);
    let mut packet = 0;
    while let (Some(ends), Some(flags), Some(seq), Some(ack), Some(step), Some(len)) =
        (r.u8(), r.u8(), r.u32(), r.u32(), r.u8(), r.u8())
    {
        let client = SocketAddr::from(([10, 0, 0, 1 + (ends & 3)], 40_000 + u16::from(ends >> 4 & 1)));
        let server = SocketAddr::from(([10, 0, 1, 1], 50_051 + u16::from(ends >> 2 & 1)));
        let (src, dst) = if ends & 0x08 == 0 { (client, server) } else { (server, client) };
        let payload = Bytes::copy_from_slice(r.take(usize::from(len)));
        let seg = Segment {
            src,
            dst,
            seq,
            ack,
            flags: tcp_flags_from_byte(flags),
            window: 65_535,
            window_scale: None,
            payload: 0..payload.len(),
            // A snaplen cut: the wire carried more than was captured.
            wire_payload_len: payload.len() as u32 + u32::from(flags >> 6),
            checksum: if flags & 0x20 == 0 { crate::net::Checksum::Good } else { crate::net::Checksum::Bad },
        };
        now = now.add_nanos(i64::from(step) * 50_000_000);
        packet += 1;
        table.segment(now, packet, &seg, payload, &mut events);
        tiles.check(&events);
        events.clear();
    }
    table.finish(&mut events);
    tiles.check(&events);
}

/// The TCP layer's promise to the layers above, checked on every event: in
/// each direction, data and gap events tile the stream (each starts where
/// the last ended), and at the end the bytes and gap bytes it counted are
/// exactly what it delivered.
#[derive(Default)]
struct Tiling {
    /// (connection, direction) -> (next offset, data bytes, gap bytes).
    next: ahash::AHashMap<(crate::tcp::ConnId, usize), (u64, u64, u64)>,
}

impl Tiling {
    fn check(&mut self, events: &[crate::tcp::StreamEvent]) {
        use crate::tcp::StreamEvent;
        for ev in events {
            match ev {
                StreamEvent::Data { conn, dir, offset, data, .. } => {
                    let at = self.next.entry((*conn, dir.index())).or_default();
                    assert_eq!(*offset, at.0, "data of {conn} {dir:?} does not start where the stream stands");
                    at.0 += data.len() as u64;
                    at.1 += data.len() as u64;
                }
                StreamEvent::Gap { conn, dir, offset, len, .. } => {
                    let at = self.next.entry((*conn, dir.index())).or_default();
                    assert_eq!(*offset, at.0, "a gap of {conn} {dir:?} does not start where the stream stands");
                    at.0 += len;
                    at.2 += len;
                }
                StreamEvent::Finished(s) => {
                    for (i, d) in s.dirs.iter().enumerate() {
                        let (end, bytes, gaps) = self.next.remove(&(s.id, i)).unwrap_or_default();
                        assert_eq!((d.bytes, d.gap_bytes), (bytes, gaps), "{} dir {i}: counted vs delivered", s.id);
                        assert_eq!(bytes + gaps, end, "{} dir {i}: bytes + gap bytes = final offset", s.id);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The flags byte of a `tcp_segments` record: FIN, SYN, RST, PSH, ACK from
/// the lowest bit up; bit 5 marks a bad checksum, the two top bits are the snaplen cut.
pub fn tcp_flags_byte(f: &TcpFlags) -> u8 {
    u8::from(f.fin) | u8::from(f.syn) << 1 | u8::from(f.rst) << 2 | u8::from(f.psh) << 3 | u8::from(f.ack) << 4
}

fn tcp_flags_from_byte(b: u8) -> TcpFlags {
    TcpFlags { fin: b & 1 != 0, syn: b & 2 != 0, rst: b & 4 != 0, psh: b & 8 != 0, ack: b & 16 != 0 }
}

/// An HTTP/2 connection fed arbitrary bytes in both directions. The first
/// byte picks whether the handshake was seen; then records of
/// `[dir and kind] [len u16] [bytes]` deliver data, or (high bit) a gap of
/// `len` lost bytes.
pub fn h2_stream(data: &[u8]) {
    let mut r = Reader(data);
    let Some(mode) = r.u8() else { return };
    let cfg = H2Config {
        max_header_block: 16 * 1024,
        max_streams: 64,
        hpack: hpack::Limits { max_table_size: 8 * 1024, max_header_list: 16 * 1024 },
        snapshot_tables: mode & 4 != 0,
        ..H2Config::default()
    };
    let start_seen = mode & 1 != 0;
    let start = if start_seen { crate::h2::Start::Preface } else { crate::h2::Start::Search };
    let mut conn = H2Conn::new(1, Arc::new(cfg), 50_051, start_seen, start);
    let mut out = Vec::new();
    let mut offsets = [0u64; 2];
    let mut now = Timestamp::from_parts(1_700_000_000, 0);
    let mut packet = 0;
    while let (Some(kind), Some(len)) = (r.u8(), r.u16()) {
        let [to_server, to_client] = &mut offsets;
        let (dir, at) = if kind & 1 == 0 { (Dir::ToServer, to_server) } else { (Dir::ToClient, to_client) };
        now = now.add_nanos(1_000_000);
        packet += 1;
        if kind & 0x80 != 0 {
            conn.gap(dir, now, *at, u64::from(len), &mut out);
            *at += u64::from(len);
        } else {
            let bytes = Bytes::copy_from_slice(r.take(usize::from(len)));
            let n = bytes.len() as u64;
            conn.data(dir, now, *at, bytes, packet, &mut out);
            *at += n;
        }
        out.clear();
    }
    conn.finish();
    let _ = conn.roles_shown();
    let _ = conn.summary();
}

/// Header blocks against one live HPACK dynamic table: `[len u16] [block]`
/// records, decoded in order (so earlier blocks' insertions and size updates
/// shape how later ones decode).
pub fn hpack_blocks(data: &[u8]) {
    let mut r = Reader(data);
    let Some(mode) = r.u8() else { return };
    let limits = hpack::Limits { max_table_size: 4096 << (mode & 3), max_header_list: 64 * 1024 };
    let mut dec = hpack::Decoder::new(mode & 4 == 0, limits);
    while let Some(len) = r.u16() {
        let block = Bytes::copy_from_slice(r.take(usize::from(len)));
        let _ = dec.decode(&block);
    }
}

/// gRPC message framing across DATA frames, then decompression of every
/// message with the codec the first byte picks: `[codec] ([len u16]
/// [bytes])*`.
pub fn grpc_messages(data: &[u8]) {
    let mut r = Reader(data);
    let Some(mode) = r.u8() else { return };
    let codec = match mode % 6 {
        0 => Codec::Identity,
        1 => Codec::Gzip,
        2 => Codec::Deflate,
        3 => Codec::Zstd,
        _ => Codec::Snappy,
    };
    let limits = MessageLimits { max_message: 64 * 1024, max_decompressed: 256 * 1024, keep_payloads: true };
    let mut asm = Assembler::new(limits);
    let mut messages = Vec::new();
    let now = Timestamp::from_parts(1_700_000_000, 0);
    while let Some(len) = r.u16() {
        let frame = Bytes::copy_from_slice(r.take(usize::from(len)));
        // A bit of the length marks part of the frame as never captured.
        let missing = (len & 0x8000 != 0).then(|| frame.len() / 2..frame.len());
        asm.push(now, 1, &frame, missing, &mut messages);
    }
    for m in &messages {
        if let Some(d) = &m.data {
            let _ = decompress(codec, d, limits.max_decompressed);
        }
    }
}

/// The schemaless protobuf decoder (what `calls` shows without a .proto).
pub fn protobuf_schemaless(data: &[u8]) {
    let _ = crate::proto::schemaless::decode(data);
}

/// Schema decoding with a fixed descriptor: `google.rpc.Status` with its
/// `Any` details unpacked (the built-in schema, no files read), and the
/// bytes as a `google.protobuf.FileDescriptorProto` (what server reflection
/// hands the schema).
pub fn protobuf_schema(data: &[u8]) {
    let mut schema = builtin_schema();
    let _ = schema.status_details(data);
    if let Some(desc) = schema.message("google.rpc.Status") {
        let _ = schema.decode(&desc, data);
    }
    let _ = schema.learn(&[Bytes::copy_from_slice(data)]);
}

/// The display-filter parser, for each of the three field sets.
pub fn filter_expression(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for fields in [&crate::filter::CALL_FIELDS, &crate::filter::FRAME_FIELDS, &crate::filter::CONN_FIELDS] {
        let _ = crate::filter::Filter::parse(text, fields);
    }
}

/// Structure-aware protobuf: the bytes are a program that builds a message
/// (so the fuzzer reaches depth and amplification that random bytes
/// rarely do), decoded without a schema and as google.rpc.Status. One op
/// per byte: `0 n v` varint, `1 n` fixed32, `2 n` fixed64, `3 n len bytes`
/// string, `4 n` open a nested message, `5` close it, `6 n` start a group,
/// `7` end it, `8` open an Any of an Any, `9 n count` a packed field of
/// `count`*256 zeros; what is open at the end is closed.
pub fn protobuf_structured(data: &[u8]) {
    let message = build_protobuf(data);
    let mut budget = crate::proto::budget::RenderBudget::new(1 << 20);
    if let Ok((json, _)) = crate::proto::schemaless::decode_within(&message, &mut budget) {
        assert!(json_depth(&json) <= 4 * crate::proto::budget::MAX_NESTING + 8, "schemaless JSON too deep");
    }
    let schema = builtin_schema();
    if let Ok(json) = schema.status_details(&message) {
        assert!(json_depth(&json) <= 8 * crate::proto::budget::MAX_NESTING + 16, "status JSON too deep");
    }
    transcoder_agrees(&schema, &message);
}

/// The wire-to-JSON transcoder renders what the decoder renders, whenever
/// it renders at all (a differential oracle: built-in types with nested
/// messages, oneofs, repeated and bytes fields, and Status with its Any).
pub fn transcoder_agrees(schema: &crate::proto::Schema, message: &[u8]) {
    for name in [
        "grpc.reflection.v1.ServerReflectionResponse",
        "grpc.reflection.v1.ServerReflectionRequest",
        "google.rpc.Status",
    ] {
        let Some(desc) = schema.message(name) else { continue };
        let Some((text, unknown)) = crate::proto::transcode::to_json(&desc, message) else { continue };
        let slow = schema.decode_slowly(&desc, message, true);
        assert!(
            slow.is_ok(),
            "the transcoder rendered a {name} the decoder refuses ({:?}): {text}",
            slow.as_ref().err()
        );
        if let Ok((json, decoder_unknown)) = slow {
            let decoded = serde_json::to_string(&json).unwrap_or_default();
            assert_eq!(text, decoded, "the transcoder and the decoder differ on a {name}");
            assert_eq!(unknown, decoder_unknown, "unknown fields of a {name}");
        }
    }
}

/// The message [`protobuf_structured`]'s program builds.
pub fn build_protobuf(data: &[u8]) -> Vec<u8> {
    use crate::proto::wire::emit_varint;
    let tag = |n: u8, wt: u64| emit_varint(u64::from(n % 31 + 1) << 3 | wt);
    let len_field = |n: u8, body: &[u8]| [tag(n, 2), emit_varint(body.len() as u64), body.to_vec()].concat();
    // Open frames: (field number, bytes so far, is an Any wrapper).
    let mut stack: Vec<(u8, Vec<u8>, bool)> = vec![(0, Vec::new(), false)];
    let mut groups: Vec<u8> = Vec::new();
    let mut r = Reader(data);
    let close = |stack: &mut Vec<(u8, Vec<u8>, bool)>| {
        if stack.len() > 1 {
            if let Some((n, body, any)) = stack.pop() {
                let field = if any {
                    let url = b"type.googleapis.com/google.protobuf.Any";
                    let packed = [len_field(0, url), len_field(1, &body)].concat();
                    len_field(2, &packed)
                } else {
                    len_field(n, &body)
                };
                if let Some(top) = stack.last_mut() {
                    top.1.extend(field);
                }
            }
        }
    };
    while let Some(op) = r.u8() {
        let n = r.u8().unwrap_or(1);
        let Some(top) = stack.last_mut() else { break };
        match op % 10 {
            0 => {
                let v = r.u32().unwrap_or(0);
                top.1.extend([tag(n, 0), emit_varint(u64::from(v))].concat());
            }
            1 => top.1.extend([tag(n, 5), vec![1, 2, 3, 4]].concat()),
            2 => top.1.extend([tag(n, 1), vec![0; 8]].concat()),
            3 => {
                let len = usize::from(r.u8().unwrap_or(0));
                top.1.extend(len_field(n, r.take(len)));
            }
            4 => stack.push((n, Vec::new(), false)),
            5 => close(&mut stack),
            6 => {
                top.1.extend(tag(n, 3));
                groups.push(n);
            }
            7 => {
                if let Some(g) = groups.pop() {
                    top.1.extend(tag(g, 4));
                }
            }
            8 => stack.push((n, Vec::new(), true)),
            _ => {
                let count = usize::from(r.u8().unwrap_or(1)) * 256;
                top.1.extend(len_field(n, &vec![0; count]));
            }
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    let mut out = stack.pop().map(|(_, b, _)| b).unwrap_or_default();
    while let Some(g) = groups.pop() {
        out.extend(tag(g, 4));
    }
    out
}

/// Nesting depth of a JSON value, counted without recursion (also what
/// tests/hostile.rs checks output against).
pub fn json_depth(v: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 1)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            serde_json::Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            serde_json::Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Structure-aware HPACK: the bytes are a program that builds header
/// blocks against one decoder, so that insertions, references and size
/// updates line up as an attacker's would. Ops: `0 nlen name vlen value`
/// literal with indexing, `1 i` a dynamic reference (62 + i % 64), `2 k`
/// the last field again k*16 times, `3 size u16` a size update, `4` end
/// the block, `5 nlen name vlen value` never-indexed literal, `6 i` a
/// static reference. After each block the decoder's limits must hold.
pub fn hpack_structured(data: &[u8]) {
    use crate::h2::hpack::{emit_integer, emit_string};
    let limits = hpack::Limits { max_table_size: 4096, max_header_list: 16 * 1024 };
    let mut dec = hpack::Decoder::new(true, limits);
    let mut r = Reader(data);
    let mut block = Vec::new();
    let mut last = Vec::new();
    let decode = |dec: &mut hpack::Decoder, block: &mut Vec<u8>| {
        let out = dec.decode(&Bytes::from(std::mem::take(block)));
        let kept: usize = out
            .fields
            .iter()
            .map(|f| f.name.as_ref().map_or(0, |n| n.len()) + f.value.as_ref().map_or(0, |v| v.len()) + 32)
            .sum();
        assert!(kept <= limits.max_header_list, "{kept} bytes kept past the header list limit");
        assert!(dec.table.size() <= limits.max_table_size, "the table outgrew its limit");
    };
    while let Some(op) = r.u8() {
        let field = match op % 7 {
            0 | 5 => {
                let name_len = usize::from(r.u8().unwrap_or(0) % 32);
                let name = r.take(name_len).to_vec();
                let value_len = usize::from(r.u8().unwrap_or(0));
                let value = r.take(value_len).to_vec();
                let first = if op % 7 == 0 { 0x40 } else { 0x10 };
                [vec![first], emit_string(&name), emit_string(&value)].concat()
            }
            1 => emit_integer(7, 0x80, 62 + u64::from(r.u8().unwrap_or(0) % 64)),
            2 => {
                let times = usize::from(r.u8().unwrap_or(0)) * 16;
                last.repeat(times)
            }
            3 => emit_integer(5, 0x20, u64::from(r.u16().unwrap_or(0))),
            4 => {
                decode(&mut dec, &mut block);
                continue;
            }
            _ => emit_integer(7, 0x80, 1 + u64::from(r.u8().unwrap_or(0) % 61)),
        };
        if op % 7 != 2 {
            last.clone_from(&field);
        }
        block.extend(field);
        if block.len() > 1 << 20 {
            decode(&mut dec, &mut block);
        }
    }
    decode(&mut dec, &mut block);
}

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// A DNS response through the name reader: whatever the bytes, it ends,
/// and every name it gives is one `names` may keep (printable ASCII, at
/// most 255 bytes), never more than 64 of them.
pub fn dns_response(data: &[u8]) {
    if let Some(answers) = crate::net::dns::answers(data) {
        assert!(answers.len() <= 64, "{} answers", answers.len());
        for (name, _) in &answers {
            assert!(crate::names::printable(name), "{name:?}");
        }
    }
}

/// Every entry point by the name of its fuzz target.
/// The key logs of the TLS fixtures: with them, the seeds of `tls_records`
/// decrypt, so mutations reach the record layer's plaintext paths.
const FIXTURE_KEY_LOGS: [&str; 3] = [
    include_str!("../fixtures/tls13.keys"),
    include_str!("../fixtures/tls12.keys"),
    include_str!("../fixtures/tls_failures.keys"),
];

/// A TLS connection's two byte streams through the record layer. The first
/// byte's low bit loads the fixtures' key logs (decryption on); then
/// records of `[dir] [len u16] [bytes]` deliver data, or (high bit of
/// `dir`) a gap. Checks that plaintext offsets only grow, and that every
/// description the printers use can be made.
pub fn tls_records(data: &[u8]) {
    let mut r = Reader(data);
    let Some(mode) = r.u8() else { return };
    let keys = Arc::new(crate::tls::KeyStore::default());
    if mode & 1 != 0 {
        for log in FIXTURE_KEY_LOGS {
            keys.add_text(log);
        }
    }
    let mut conn = crate::tls::TlsConn::new(keys);
    let mut out = Vec::new();
    let mut next = [0u64; 2];
    let mut tcp = [0u64; 2];
    let mut now = Timestamp::from_parts(1_796_223_562, 0);
    let mut packet = 0;
    let mut check = |out: &mut Vec<crate::tls::TlsOutput>, tcp: &[u64; 2]| {
        for o in out.drain(..) {
            if let crate::tls::TlsOutput::Plain { dir, offset, data, carrier, .. } = o {
                let at = if dir == Dir::ToServer { &mut next[0] } else { &mut next[1] };
                assert!(offset >= *at, "plaintext went backwards: {offset} after {at}");
                *at = offset + data.len() as u64;
                // The record that carried them is where the bytes were.
                assert_eq!(carrier.plain, offset..*at, "a carrier's plaintext range");
                let end = carrier.span.offset + carrier.span.len;
                assert!(
                    tcp.get(dir.index()).is_some_and(|t| end <= *t),
                    "a record ends at {end}, past the bytes given"
                );
                assert!(carrier.captured(*at - 1).is_some_and(|c| c < end), "plaintext mapped outside its record");
            }
        }
    };
    while let (Some(kind), Some(len)) = (r.u8(), r.u16()) {
        let dir = if kind & 1 == 0 { Dir::ToServer } else { Dir::ToClient };
        now = now.add_nanos(1_000_000);
        packet += 1;
        let at = tcp.get_mut(dir.index()).map_or(0, |t| std::mem::replace(t, *t + u64::from(len)));
        if kind & 0x80 != 0 {
            conn.gap(dir, now, u64::from(len), &mut out);
        } else {
            let data = r.take(usize::from(len));
            // What was given is what counts (the input may run short).
            if let Some(t) = tcp.get_mut(dir.index()) {
                *t = at + data.len() as u64;
            }
            conn.data(dir, now, at, data, packet, &mut out);
        }
        check(&mut out, &tcp);
    }
    conn.finish(&mut out);
    check(&mut out, &tcp);
    let steps = conn.take_steps();
    assert!(steps.len() <= 64, "steps are bounded");
    let summary = conn.summary();
    let text = [summary.describe()]
        .into_iter()
        .chain(summary.certificate_lines())
        .chain(summary.alert_lines())
        .collect::<Vec<_>>()
        .join("\n");
    no_control_characters(crate::present::text::clean(&text).as_bytes());
    let _ = serde_json::to_string(summary);
}

pub const TARGETS: &[(&str, Target)] = &[
    ("capture_file", capture_file),
    ("dns_response", dns_response),
    ("tcp_segments", tcp_segments),
    ("h2_stream", h2_stream),
    ("hpack_blocks", hpack_blocks),
    ("grpc_messages", grpc_messages),
    ("protobuf_schemaless", protobuf_schemaless),
    ("protobuf_schema", protobuf_schema),
    ("filter_expression", filter_expression),
    ("protobuf_structured", protobuf_structured),
    ("hpack_structured", hpack_structured),
    ("tls_records", tls_records),
];
