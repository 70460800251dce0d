//! Seeds the fuzz corpora (fuzz/corpus/TARGET/) from the real captures in
//! fixtures/: each target gets its input format (see src/fuzzing.rs) filled
//! with what real tonic traffic carries. See docs/robustness.md.
//!
//! ```sh
//! cargo run --example fuzz_seeds     # then cargo fuzz cmin TARGET to minimise
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use grpcscope::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
use grpcscope::capture::file::packets_from_bytes;
use grpcscope::capture::Packet;
use grpcscope::grpc::{Call, GrpcEvent};
use grpcscope::h2::frame::FrameHeader;
use grpcscope::net::{decode, Decoded};
use grpcscope::synth::byte_streams;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FIXTURES: &[&str] = &[
    "unary",
    "streaming",
    "errors",
    "deadline",
    "cancel",
    "reconnect",
    "compression",
    "metadata",
    "reflection",
    "mid_connection",
    "proxy",
];

/// The TLS fixtures: whole captures for `capture_file`, and each
/// connection's records for `tls_records`.
const TLS_FIXTURES: &[&str] = &["tls13", "tls12", "tls_failures"];

/// Each TCP connection's payloads in capture order as `tls_records` input
/// (`[dir] [len u16] [bytes]`), by client port, with the key logs on.
fn tls_record_seeds(packets: &[Packet]) -> BTreeMap<u16, Vec<u8>> {
    let mut servers = Vec::new();
    let mut out: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    for p in packets {
        let Decoded::Tcp(seg) = decode(p.link, &p.data) else { continue };
        if seg.flags.syn && !seg.flags.ack && !servers.contains(&seg.dst.port()) {
            servers.push(seg.dst.port());
        }
        let to_client = servers.contains(&seg.src.port());
        let client = if to_client { seg.dst.port() } else { seg.src.port() };
        let payload = &p.data[seg.payload.clone()];
        if payload.is_empty() {
            continue;
        }
        let seed = out.entry(client).or_insert_with(|| vec![1u8]);
        seed.push(u8::from(to_client));
        seed.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        seed.extend_from_slice(payload);
    }
    out
}

struct Collect {
    calls: Vec<Call>,
}

impl Sink for Collect {
    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        if let GrpcEvent::Finished(c) = ev {
            self.calls.push(*c);
        }
        CONTINUE
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// (type, stream, payload) of every frame of one direction.
fn frames(mut s: &[u8]) -> Vec<(u8, u32, Vec<u8>)> {
    if s.starts_with(b"PRI * HTTP/2.0") {
        s = &s[24.min(s.len())..];
    }
    let mut out = Vec::new();
    while let Some(h) = FrameHeader::parse(s) {
        let end = h.total_len();
        if end > s.len() {
            break;
        }
        out.push((h.kind.0, h.stream_id, s[9..end].to_vec()));
        s = &s[end..];
    }
    out
}

fn tcp_records(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut server_port = None;
    for p in packets {
        let Decoded::Tcp(seg) = decode(p.link, &p.data) else { continue };
        if seg.flags.syn && !seg.flags.ack {
            server_port.get_or_insert(seg.dst.port());
        }
        let to_client = Some(seg.src.port()) == server_port;
        let flags = grpcscope::fuzzing::tcp_flags_byte(&seg.flags);
        let payload = &p.data[seg.payload.clone()];
        let payload = &payload[..payload.len().min(255)];
        out.push(if to_client { 0x08 } else { 0 });
        out.push(flags);
        out.extend_from_slice(&seg.seq.to_be_bytes());
        out.extend_from_slice(&seg.ack.to_be_bytes());
        out.push(1);
        out.push(payload.len() as u8);
        out.extend_from_slice(payload);
    }
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("fuzz/corpus");
    // DNS responses as a resolver answers a gRPC channel's dns:/// target:
    // A, AAAA and a CNAME chain.
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let dns = [
        ("a", grpcscope::net::dns::response(1, "inventory.shop.svc.cluster.local", &[], &[ip("10.96.12.34")])),
        ("aaaa", grpcscope::net::dns::response(2, "inventory.example", &[], &[ip("fd00::7"), ip("10.0.0.2")])),
        ("cname", grpcscope::net::dns::response(3, "api.example.com", &["edge.cdn.example.net"], &[ip("192.0.2.9")])),
    ];
    for (name, msg) in dns {
        write(&corpus.join("dns_response"), name, &msg);
    }
    for name in TLS_FIXTURES {
        let bytes = std::fs::read(root.join(format!("fixtures/{name}.pcap"))).unwrap();
        let (packets, _) = packets_from_bytes(&bytes).unwrap();
        write(&corpus.join("capture_file"), &format!("{name}.pcap"), &bytes);
        for (port, seed) in tls_record_seeds(&packets) {
            write(&corpus.join("tls_records"), &format!("{name}-{port}"), &seed);
            // The same bytes without keys: what the handshake shows in the clear.
            let mut plain = seed.clone();
            plain[0] = 0;
            write(&corpus.join("tls_records"), &format!("{name}-{port}-nokeys"), &plain);
        }
    }
    for name in FIXTURES {
        let bytes = std::fs::read(root.join(format!("fixtures/{name}.pcap"))).unwrap();
        let (packets, _) = packets_from_bytes(&bytes).unwrap();
        write(&corpus.join("capture_file"), &format!("{name}.pcap"), &bytes);
        write(&corpus.join("tcp_segments"), name, &tcp_records(&packets));

        let mut calls = Pipeline::new(PipelineConfig::new(), Collect { calls: Vec::new() });
        packets.iter().for_each(|p| {
            let _ = calls.packet(p);
        });
        calls.finish();

        let all = byte_streams(&packets);
        for (conn, _) in all.keys().filter(|(_, d)| *d == 0) {
            // Both directions of the connection, interleaved a frame at a time.
            let mut h2 = vec![1u8];
            for dir in 0..2 {
                for chunk in all.get(&(*conn, dir)).map_or(&[][..], Vec::as_slice).chunks(1400) {
                    h2.push(dir as u8);
                    h2.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
                    h2.extend_from_slice(chunk);
                }
            }
            write(&corpus.join("h2_stream"), &format!("{name}-{conn}"), &h2);
            for dir in 0..2 {
                let fr = frames(all.get(&(*conn, dir)).map_or(&[][..], Vec::as_slice));
                let mut hpack = vec![0u8];
                for (_, _, payload) in fr.iter().filter(|f| f.0 == 1) {
                    hpack.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                    hpack.extend_from_slice(payload);
                }
                write(&corpus.join("hpack_blocks"), &format!("{name}-{conn}-{dir}"), &hpack);
                let mut by_stream: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
                for (_, sid, payload) in fr.iter().filter(|f| f.0 == 0) {
                    let v = by_stream.entry(*sid).or_insert_with(|| vec![0u8]);
                    v.extend_from_slice(&(payload.len() as u16 & 0x7fff).to_be_bytes());
                    v.extend_from_slice(payload);
                }
                for (sid, v) in by_stream.iter().take(4) {
                    write(&corpus.join("grpc_messages"), &format!("{name}-{conn}-{dir}-{sid}"), v);
                }
            }
        }
        for (i, call) in calls.sink.calls.iter().enumerate().take(8) {
            let encoding = call.encoding(false).or_else(|| call.encoding(true));
            for (j, m) in call.requests.iter().chain(&call.responses).enumerate().take(3) {
                let Some(d) = &m.data else { continue };
                if m.compressed {
                    let codec = match encoding.as_deref() {
                        Some("gzip") => 1u8,
                        Some("deflate") => 2,
                        Some("zstd") => 3,
                        _ => 4,
                    };
                    let mut v = vec![codec];
                    let framed = [&[1u8][..], &(d.len() as u32).to_be_bytes(), d].concat();
                    v.extend_from_slice(&(framed.len() as u16 & 0x7fff).to_be_bytes());
                    v.extend_from_slice(&framed);
                    write(&corpus.join("grpc_messages"), &format!("{name}-compressed-{i}-{j}"), &v);
                } else {
                    write(&corpus.join("protobuf_schemaless"), &format!("{name}-{i}-{j}"), d);
                }
            }
            if let Some(details) = call.status_details() {
                write(&corpus.join("protobuf_schema"), &format!("{name}-{i}"), &details);
            }
        }
    }
    // The expressions docs/filters.md teaches (`--filter '...'`), valid and invalid.
    let docs = std::fs::read_to_string(root.join("docs/filters.md")).unwrap();
    for (i, f) in docs.split("--filter '").skip(1).filter_map(|rest| rest.split('\'').next()).enumerate() {
        write(&corpus.join("filter_expression"), &format!("docs-{i}"), f.as_bytes());
    }
    structured_seeds(&corpus);
    println!("corpora written to {}", corpus.display());
}

/// Programs for the structure-aware targets (src/fuzzing.rs describes the
/// ops): the shapes of the hostile captures of issue 18, small.
fn structured_seeds(corpus: &Path) {
    let pb = corpus.join("protobuf_structured");
    let mut groups = [6u8, 1].repeat(300);
    groups.extend([0u8, 2, 0, 0, 0, 7]);
    groups.extend([7u8, 0].repeat(300));
    write(&pb, "deep_groups", &groups);
    write(
        &pb,
        "deep_any",
        &[[0u8, 1, 0, 0, 0, 3].to_vec(), [8u8, 3].repeat(60), vec![3, 1, 4, b'd', b'e', b'e', b'p']].concat(),
    );
    write(&pb, "deep_messages", &[[4u8, 5].repeat(200), vec![0, 1, 0, 0, 0, 9]].concat());
    write(&pb, "packed", &[9u8, 1, 255, 0, 2, 0, 0, 1, 0, 3, 3, 3, b'a', b'b', b'c']);
    let hp = corpus.join("hpack_structured");
    let mut amplify = vec![0u8, 1, b'a', 1, b'b', 1, 0];
    amplify.extend([2u8, 255].repeat(8));
    amplify.push(4);
    write(&hp, "amplify", &amplify);
    write(&hp, "size_updates", &[3, 0, 0, 3, 16, 0, 0, 4, b'x', 3, b'y', b'y', b'y', 1, 0, 4, 6, 1, 6, 3, 4]);
    write(
        &hp,
        "evictions",
        &[[0u8, 3, b'k', b'e', b'y', 200].to_vec(), vec![b'v'; 200], vec![1, 0, 1, 1, 4]].concat().repeat(30),
    );
}
