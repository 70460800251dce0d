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
/// pipeline into `stats`.
pub fn capture_file(data: &[u8]) {
    let Ok((packets, _warnings)) = crate::capture::file::packets_from_bytes(data) else { return };
    let mut p = Pipeline::new(PipelineConfig::new(), Stats::default());
    for pkt in &packets {
        // Statistics never stop a run.
        let _ = p.packet(pkt);
    }
    p.finish();
    let _ = p.sink.hops.report();
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
        events.clear();
    }
    table.finish(&mut events);
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
    let mut conn = H2Conn::new(1, Arc::new(cfg), 50_051, start_seen, start, mode & 2 != 0);
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
        if conn.take_swap() {
            offsets.swap(0, 1);
        }
        out.clear();
    }
    conn.finish(&mut out);
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
    let mut schema = crate::proto::Schema::builtin();
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

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Every entry point by the name of its fuzz target.
pub const TARGETS: &[(&str, Target)] = &[
    ("capture_file", capture_file),
    ("tcp_segments", tcp_segments),
    ("h2_stream", h2_stream),
    ("hpack_blocks", hpack_blocks),
    ("grpc_messages", grpc_messages),
    ("protobuf_schemaless", protobuf_schemaless),
    ("protobuf_schema", protobuf_schema),
    ("filter_expression", filter_expression),
];
