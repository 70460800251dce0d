//! Adversarial captures, one per resource limit: each holds one hostile
//! connection that pushes a limit far past its default, and one well-behaved
//! gRPC call around it, whose decoding must not suffer. `examples/adversarial.rs`
//! writes them to `fixtures/adversarial/`; docs/robustness.md lists them.

use super::h2::{self as h, kind};
use super::{Conversation, PcapBuilder, Side};
use crate::capture::LinkType;
use crate::h2::frame::flags::{END_HEADERS, END_STREAM};
use crate::net::TcpFlags;
use crate::notes::NoteCode;
use crate::time::Timestamp;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// One adversarial capture.
pub struct Fixture {
    /// File name under fixtures/adversarial/.
    pub file: &'static str,
    /// The limit it attacks (as docs/robustness.md names it).
    pub limit: &'static str,
    /// The annotation code every hit of the limit carries (also the `stats` counter).
    pub code: NoteCode,
    /// Makes the capture's bytes (gzip-compressed when the file name ends in `.gz`).
    pub build: fn() -> Vec<u8>,
}

/// The committed adversarial fixtures. The SYN flood is made at test time
/// instead ([`syn_flood`]): a million packets are 70 MB.
pub const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "hpack_table_size.pcap.gz",
        limit: "HPACK dynamic table",
        code: NoteCode::HpackTableLimit,
        build: hpack_table_size,
    },
    Fixture {
        file: "continuation_flood.pcap.gz",
        limit: "header block",
        code: NoteCode::ContinuationFlood,
        build: continuation_flood,
    },
    Fixture { file: "header_list.pcap.gz", limit: "header list", code: NoteCode::HeaderListLimit, build: header_list },
    Fixture {
        file: "length_prefix_4gib.pcap.gz",
        limit: "gRPC message",
        code: NoteCode::MessageTooLarge,
        build: length_prefix_4gib,
    },
    Fixture {
        file: "compression_bomb.pcap.gz",
        limit: "decompressed message",
        code: NoteCode::DecompressionLimit,
        build: compression_bomb,
    },
    Fixture {
        file: "out_of_order_flood.pcap.gz",
        limit: "bytes buffered ahead of a hole",
        code: NoteCode::ReassemblyBufferFull,
        build: out_of_order_flood,
    },
    Fixture {
        file: "stream_ids.pcap.gz",
        limit: "streams per connection",
        code: NoteCode::StreamLimit,
        build: stream_ids,
    },
];

/// How far past its default limit each flood goes.
pub const FLOOD_BYTES: usize = 32 << 20;

/// The method of the well-behaved call in every fixture.
pub const GOOD_METHOD: &str = "/grpcscope.Check/Healthy";

/// The method the hostile client calls.
pub const HOSTILE_METHOD: &str = "/grpcscope.Check/Hostile";

const SEGMENT: usize = 32_000;
const MAX_FRAME: usize = 16_384;
const HEADER_TABLE_SIZE: u16 = 1;
const INITIAL_WINDOW_SIZE: u16 = 4;

pub(crate) fn start() -> Timestamp {
    Timestamp(1_764_000_000 * 1_000_000_000)
}

pub(crate) fn server() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 50051)
}

pub(crate) fn hostile_client() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 66)), 40066)
}

/// `bytes` sent by `side` in segments of at most 32,000 bytes.
pub(crate) fn send_all(conv: &mut Conversation, side: Side, bytes: &[u8]) {
    for chunk in bytes.chunks(SEGMENT) {
        conv.send(side, chunk);
    }
}

/// A header block as HEADERS plus as many CONTINUATIONs as the 16 KiB frame size needs.
pub(crate) fn header_frames(stream_id: u32, block: &[u8], end_stream: bool) -> Vec<u8> {
    let mut chunks = block.chunks(MAX_FRAME).peekable();
    let mut out = Vec::with_capacity(block.len() + 64);
    let mut first = true;
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let mut flags = if last { END_HEADERS } else { 0 };
        if first && end_stream {
            flags |= END_STREAM;
        }
        let ty = if first { kind::HEADERS } else { kind::CONTINUATION };
        out.extend(h::frame(ty, flags, stream_id, chunk));
        first = false;
    }
    out
}

/// Handshake, preface and both SETTINGS (with their ACKs); `server_settings`
/// is what the server announces.
pub fn open_h2(client: SocketAddr, at: Timestamp, server_settings: &[(u16, u32)]) -> Conversation {
    open_h2_to(client, server(), at, server_settings)
}

/// [`open_h2`] to another server.
pub fn open_h2_to(
    client: SocketAddr,
    server: SocketAddr,
    at: Timestamp,
    server_settings: &[(u16, u32)],
) -> Conversation {
    let mut conv = Conversation::new(client, server, at);
    conv.handshake();
    let mut hello = h::PREFACE.to_vec();
    hello.extend(h::settings(&[]));
    conv.send(Side::Client, &hello);
    let mut answer = h::settings(server_settings);
    answer.extend(h::frame(kind::SETTINGS, 1, 0, &[]));
    conv.send(Side::Server, &answer);
    conv.send(Side::Client, &h::frame(kind::SETTINGS, 1, 0, &[]));
    conv
}

/// The server's answer to stream `sid`: headers, one message, grpc-status `status`.
pub(crate) fn respond(conv: &mut Conversation, sid: u32, status: u32) {
    let mut out = h::frame(kind::HEADERS, END_HEADERS, sid, &h::response_block());
    out.extend(h::frame(kind::DATA, 0, sid, &h::grpc_message(false, b"\x08\x01")));
    out.extend(h::frame(kind::HEADERS, END_HEADERS | END_STREAM, sid, &h::trailers_block(status)));
    conv.send(Side::Server, &out);
}

/// A complete request on stream `sid` with one small message.
pub(crate) fn request(sid: u32, path: &str) -> Vec<u8> {
    let mut out = h::frame(kind::HEADERS, END_HEADERS, sid, &h::request_block(path, &[]));
    out.extend(h::frame(kind::DATA, END_STREAM, sid, &h::grpc_message(false, b"\x08\x01")));
    out
}

/// A request on stream 1 whose header block is `block` (split into
/// CONTINUATIONs as needed), then one empty message.
pub(crate) fn request_with_block(conv: &mut Conversation, block: &[u8]) {
    let mut out = header_frames(1, block, false);
    out.extend(h::frame(kind::DATA, END_STREAM, 1, &h::grpc_message(false, b"")));
    send_all(conv, Side::Client, &out);
}

/// Wraps the hostile conversation in the well-behaved call: the good call's
/// request comes before the hostile traffic, its response after.
pub(crate) fn around(hostile: Conversation) -> Vec<u8> {
    around_with(hostile, |pcap, ts, ip, _| pcap.push_ip(ts, ip))
}

/// [`around`], each packet written by `write` (given the packet, and
/// whether it is the hostile connection's): to wrap or cut packets.
pub(crate) fn around_with(hostile: Conversation, write: impl Fn(&mut PcapBuilder, Timestamp, &[u8], bool)) -> Vec<u8> {
    let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
    let mut good = open_h2(client, start(), &[]);
    good.send(Side::Client, &request(1, GOOD_METHOD));
    let hostile_end = hostile.packets.last().map_or(start(), |(ts, _)| *ts);
    let wait = hostile_end.nanos_since(good.packets.last().map_or(start(), |(ts, _)| *ts)).max(0) + 1_000_000;
    good.wait(wait);
    respond(&mut good, 1, 0);
    good.fin(Side::Client).fin(Side::Server);
    let mut packets: Vec<(&(Timestamp, Vec<u8>), bool)> =
        good.packets.iter().map(|p| (p, false)).chain(hostile.packets.iter().map(|p| (p, true))).collect();
    packets.sort_by_key(|((ts, _), _)| *ts);
    let mut pcap = PcapBuilder::new(LinkType::ETHERNET);
    for ((ts, ip), is_hostile) in packets {
        write(&mut pcap, *ts, ip, is_hostile);
    }
    gzip(&pcap.finish())
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

pub(crate) fn hostile_conn(server_settings: &[(u16, u32)]) -> Conversation {
    open_h2(hostile_client(), start().add_nanos(10_000_000), server_settings)
}

/// The server allows a 4 GiB HPACK table; the client's encoder takes it (a
/// size update to 4,294,967,295) and fills 100 kB of entries.
pub fn hpack_table_size() -> Vec<u8> {
    let mut conv = hostile_conn(&[(HEADER_TABLE_SIZE, u32::MAX)]);
    let mut block = h::size_update(u64::from(u32::MAX));
    for i in 0..100 {
        block.extend(h::literal_indexed(&format!("x-fill-{i:03}"), &[b'a'; 1000]));
    }
    block.extend(h::request_block(HOSTILE_METHOD, &[]));
    request_with_block(&mut conv, &block);
    respond(&mut conv, 1, 0);
    around(conv)
}

/// HEADERS without END_HEADERS, then 32 MiB of CONTINUATION frames that never end the block.
pub fn continuation_flood() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let mut out = h::frame(kind::HEADERS, 0, 1, &h::request_block(HOSTILE_METHOD, &[]));
    let filler = [0u8; MAX_FRAME];
    for _ in 0..FLOOD_BYTES / MAX_FRAME {
        out.extend(h::frame(kind::CONTINUATION, 0, 1, &filler));
    }
    send_all(&mut conv, Side::Client, &out);
    around(conv)
}

/// A 4,000-byte field added to the table once, then referenced 8,000 times
/// by its 1-byte index: a 12 kB block that decodes to a 32 MB header list.
pub fn header_list() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let mut block = h::request_block(HOSTILE_METHOD, &[]);
    block.extend(h::literal_indexed("x-big", &[b'b'; 4000]));
    for _ in 0..8000 {
        block.extend(h::indexed(62));
    }
    request_with_block(&mut conv, &block);
    respond(&mut conv, 1, 8);
    around(conv)
}

/// A message whose prefix claims 4,294,967,295 bytes, followed by 1,000.
pub fn length_prefix_4gib() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 1, &h::request_block(HOSTILE_METHOD, &[]));
    let mut data = vec![0, 0xff, 0xff, 0xff, 0xff];
    data.extend_from_slice(&[7; 1000]);
    out.extend(h::frame(kind::DATA, END_STREAM, 1, &data));
    conv.send(Side::Client, &out);
    respond(&mut conv, 1, 8);
    around(conv)
}

/// A gzip-compressed message of 128 kB that inflates to 128 MiB of zeros.
pub fn compression_bomb() -> Vec<u8> {
    // The server opens its receive windows wide, so that the only problem
    // in the capture is the bomb itself.
    let mut conv = hostile_conn(&[(INITIAL_WINDOW_SIZE, 1 << 30)]);
    conv.send(Side::Server, &h::window_update(0, 1 << 30));
    let block = h::request_block(HOSTILE_METHOD, &[("grpc-encoding", "gzip")]);
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..128 {
        let _ = bomb.write_all(&zeros);
    }
    let bomb = bomb.finish().unwrap_or_default();
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 1, &block);
    let message = h::grpc_message(true, &bomb);
    let mut chunks = message.chunks(MAX_FRAME).peekable();
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() { END_STREAM } else { 0 };
        out.extend(h::frame(kind::DATA, flags, 1, chunk));
    }
    send_all(&mut conv, Side::Client, &out);
    respond(&mut conv, 1, 8);
    around(conv)
}

/// 1,000 bytes never captured, then 32 MiB of data beyond the hole.
pub fn out_of_order_flood() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    conv.lose(Side::Client, 1000);
    send_all(&mut conv, Side::Client, &vec![0u8; FLOOD_BYTES]);
    around(conv)
}

/// 150,000 streams opened and never closed, then stream 2^31-1 and a frame
/// with the reserved bit set (stream identifier 0xffffffff).
pub fn stream_ids() -> Vec<u8> {
    let mut conv = hostile_conn(&[]);
    let fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", HOSTILE_METHOD),
        (":authority", "localhost:50051"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    let first: Vec<u8> = fields.iter().flat_map(|(n, v)| h::literal_indexed(n, v.as_bytes())).collect();
    let mut out = h::frame(kind::HEADERS, END_HEADERS, 1, &first);
    // The six fields now sit at dynamic indexes 62-67: each later block is six bytes.
    let again: Vec<u8> = (62..68).flat_map(h::indexed).collect();
    for n in 1..150_000u32 {
        out.extend(h::frame(kind::HEADERS, END_HEADERS, 2 * n + 1, &again));
        if out.len() >= SEGMENT {
            conv.send(Side::Client, &out);
            out.clear();
        }
    }
    out.extend(h::frame(kind::HEADERS, END_HEADERS, 0x7fff_ffff, &again));
    out.extend(h::frame(kind::HEADERS, END_HEADERS, 0xffff_ffff, &again));
    conv.send(Side::Client, &out);
    around(conv)
}

/// `n` SYNs from distinct addresses and ports, one microsecond apart, none
/// answered, then the well-behaved call: what a SYN flood or a port scan
/// leaves in a capture. Not compressed (the test writes it to a scratch file).
pub fn syn_flood(n: u32) -> Vec<u8> {
    let mut pcap = PcapBuilder::new(LinkType::ETHERNET);
    let syn = TcpFlags { syn: true, ..Default::default() };
    let mut ts = start();
    for i in 0..n {
        let [_, a, b, c] = (i / 60_000).to_be_bytes();
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a.wrapping_add(100), b, c)), 1024 + (i % 60_000) as u16);
        pcap.push_ip(ts, &super::ip_tcp(src, server(), i, 0, syn, &[]));
        ts = ts.add_nanos(1_000);
    }
    let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
    let mut good = open_h2(client, ts, &[]);
    good.send(Side::Client, &request(1, GOOD_METHOD));
    respond(&mut good, 1, 0);
    good.fin(Side::Client).fin(Side::Server);
    for (ts, ip) in &good.packets {
        pcap.push_ip(*ts, ip);
    }
    pcap.finish()
}
