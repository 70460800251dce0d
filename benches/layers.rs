//! Per-layer throughput on real tonic traffic: the `bench_seed` fixture
//! replayed into an in-memory capture (see docs/performance.md).
//!
//! `cargo bench --bench layers` measures; `cargo bench --bench layers -- --test`
//! runs every benchmark once (the CI smoke run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use grpcscope::analysis::shards::{decode_sharded, merge_stats};
use grpcscope::analysis::stats::Stats;
use grpcscope::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
use grpcscope::capture::writer::PcapWriter;
use grpcscope::capture::{FileCapture, LinkType, Packet};
use grpcscope::grpc::message::Assembler;
use grpcscope::grpc::{Call, GrpcEvent, MessageLimits};
use grpcscope::h2::frame::{parse_body, Body, FrameHeader};
use grpcscope::h2::hpack::{Decoder as Hpack, Limits};
use grpcscope::net::{decode, Decoded, Segment, TcpFlags};
use grpcscope::output::calls::CallsPrinter;
use grpcscope::output::write_json_line;
use grpcscope::output::Format;
use grpcscope::present::record::CallRecord;
use grpcscope::present::Decoder;
use grpcscope::proto::{schemaless, Schema, SchemaSources};
use grpcscope::synth::replay::{Replay, Seed};
use grpcscope::synth::{byte_streams, ip_tcp, with_link};
use grpcscope::tcp::{FlowTable, TcpConfig};
use grpcscope::time::Timestamp;
use grpcscope::tls::crypto::{expand_label, RecordKeys, Suite};
use std::hint::black_box;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_all(bytes: Vec<u8>) -> Vec<Packet> {
    let len = bytes.len() as u64;
    let mut cap = FileCapture::from_reader("bench", Box::new(std::io::Cursor::new(bytes)), Some(len)).unwrap();
    std::iter::from_fn(|| cap.next_packet()).collect()
}

/// The seed replayed `copies` times, 8 connections at a time, as pcap bytes.
fn replayed_pcap(copies: u64) -> Vec<u8> {
    let seed_bytes = std::fs::read(root().join("fixtures/bench_seed.pcap")).unwrap();
    let seed = Seed::new(&read_all(seed_bytes)).unwrap();
    let mut w = PcapWriter::new(Vec::new(), seed.link(), 262_144).unwrap();
    for (ts, data) in Replay::new(&seed, copies, 8) {
        w.write_packet(ts, &data, data.len() as u32).unwrap();
    }
    w.into_inner()
}

/// The seed connection's byte stream in each direction, in order.
fn seed_streams() -> [Vec<u8>; 2] {
    let packets = read_all(std::fs::read(root().join("fixtures/bench_seed.pcap")).unwrap());
    let mut by_dir = byte_streams(&packets);
    let mut streams = [0, 1].map(|d| by_dir.remove(&(1, d)).unwrap_or_default());
    // The client's stream starts with the 24-byte connection preface.
    streams[0].drain(..24);
    streams
}

/// Every frame of a byte stream: (header, payload).
fn frames(stream: &[u8]) -> Vec<(FrameHeader, Bytes)> {
    let all = Bytes::copy_from_slice(stream);
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = FrameHeader::parse(&all[at..]) {
        let end = at + h.total_len();
        if end > all.len() {
            break;
        }
        out.push((h, all.slice(at + 9..end)));
        at = end;
    }
    out
}

fn capture_and_tcp(c: &mut Criterion) {
    let pcap = replayed_pcap(20);
    let packets = read_all(pcap.clone());
    let mut g = c.benchmark_group("capture");
    g.throughput(Throughput::Bytes(pcap.len() as u64));
    g.bench_function("pcap_read", |b| {
        b.iter_batched(|| pcap.clone(), |p| black_box(read_all(p).len()), BatchSize::LargeInput)
    });
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.bench_function("net_decode", |b| {
        b.iter(|| packets.iter().filter(|p| matches!(decode(p.link, &p.data), Decoded::Tcp(_))).count())
    });
    g.finish();
    let segments: Vec<(Timestamp, u64, Segment, Bytes)> = packets
        .iter()
        .filter_map(|p| match decode(p.link, &p.data) {
            Decoded::Tcp(seg) => {
                let payload = p.data.slice(seg.payload.clone());
                Some((p.ts, p.number, seg, payload))
            }
            _ => None,
        })
        .collect();
    let mut g = c.benchmark_group("tcp");
    g.throughput(Throughput::Elements(segments.len() as u64));
    g.bench_function("reassembly", |b| b.iter(|| reassemble(&segments)));
    g.finish();
}

fn reassemble(segments: &[(Timestamp, u64, Segment, Bytes)]) -> usize {
    let mut table = FlowTable::new(TcpConfig::default());
    let mut events = Vec::new();
    let mut n = 0;
    for (ts, number, seg, payload) in segments {
        table.segment(*ts, *number, seg, payload.clone(), &mut events);
        n += events.len();
        events.clear();
    }
    table.finish(&mut events);
    n + events.len()
}

/// 100,000 connections open at once: every handshake first, then a
/// request and a response on each, then every close.
fn flow_table_100k(c: &mut Criterion) {
    const CONNS: u32 = 100_000;
    let server: std::net::SocketAddr = "10.0.0.1:50051".parse().unwrap();
    let client = |i: u32| std::net::SocketAddr::new([10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8].into(), 40_000);
    let flags = |syn, ack, fin, psh| TcpFlags { syn, ack, fin, psh, rst: false };
    let mut packets: Vec<Vec<u8>> = Vec::with_capacity(CONNS as usize * 7);
    for i in 0..CONNS {
        packets.push(ip_tcp(client(i), server, 1000, 0, flags(true, false, false, false), &[]));
    }
    for i in 0..CONNS {
        packets.push(ip_tcp(server, client(i), 5000, 1001, flags(true, true, false, false), &[]));
        packets.push(ip_tcp(client(i), server, 1001, 5001, flags(false, true, false, false), &[]));
    }
    for i in 0..CONNS {
        packets.push(ip_tcp(client(i), server, 1001, 5001, flags(false, true, false, true), b"request bytes"));
        packets.push(ip_tcp(server, client(i), 5001, 1014, flags(false, true, false, true), b"response bytes!"));
    }
    for i in 0..CONNS {
        packets.push(ip_tcp(client(i), server, 1014, 5016, flags(false, true, true, false), &[]));
        packets.push(ip_tcp(server, client(i), 5016, 1015, flags(false, true, true, false), &[]));
    }
    let link = LinkType(101);
    let segments: Vec<(Timestamp, u64, Segment, Bytes)> = packets
        .into_iter()
        .enumerate()
        .map(|(i, ip)| {
            let data = Bytes::from(with_link(link, &ip));
            let Decoded::Tcp(seg) = decode(link, &data) else { panic!("not TCP") };
            let payload = data.slice(seg.payload.clone());
            (Timestamp::from_parts(1_700_000_000, i as i64 * 1_000), i as u64 + 1, seg, payload)
        })
        .collect();
    let mut g = c.benchmark_group("tcp");
    g.sample_size(10);
    g.throughput(Throughput::Elements(segments.len() as u64));
    g.bench_function("reassembly_100k_open_connections", |b| b.iter(|| reassemble(&segments)));
    g.finish();
}

fn h2_and_hpack(c: &mut Criterion) {
    let streams = seed_streams();
    let bytes: usize = streams.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("h2");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("frames", |b| {
        b.iter(|| {
            streams
                .iter()
                .map(|s| {
                    frames(s).iter().filter(|(h, p)| !matches!(black_box(parse_body(h, p)), Body::Malformed(_))).count()
                })
                .sum::<usize>()
        })
    });
    let blocks: [Vec<Bytes>; 2] = [0, 1].map(|d| {
        frames(&streams[d])
            .into_iter()
            .filter_map(|(h, p)| match parse_body(&h, &p) {
                Body::Headers { fragment, .. } => Some(p.slice(fragment)),
                _ => None,
            })
            .collect()
    });
    let block_bytes: usize = blocks.iter().flatten().map(Bytes::len).sum();
    g.throughput(Throughput::Bytes(block_bytes as u64));
    g.bench_function("hpack_decode", |b| {
        b.iter(|| {
            let mut fields = 0;
            for dir in &blocks {
                let mut dec = Hpack::new(true, Limits::default());
                for block in dir {
                    fields += dec.decode(block).fields.len();
                }
            }
            fields
        })
    });
    g.finish();

    // gRPC framing: the DATA of every stream through its assembler.
    let data: Vec<(u32, usize, Bytes)> = [0usize, 1]
        .iter()
        .flat_map(|d| {
            frames(&streams[*d]).into_iter().filter_map(move |(h, p)| match parse_body(&h, &p) {
                Body::Data { data, .. } => Some((h.stream_id, *d, p.slice(data))),
                _ => None,
            })
        })
        .collect();
    let data_bytes: usize = data.iter().map(|(_, _, d)| d.len()).sum();
    let mut g = c.benchmark_group("grpc");
    g.throughput(Throughput::Bytes(data_bytes as u64));
    g.bench_function("message_framing", |b| {
        b.iter(|| {
            let mut asm: ahash::AHashMap<(u32, usize), Assembler> = ahash::AHashMap::new();
            let mut out = Vec::new();
            for (sid, dir, d) in &data {
                asm.entry((*sid, *dir)).or_insert_with(|| Assembler::new(MessageLimits::default())).push(
                    Timestamp::default(),
                    0,
                    d,
                    None,
                    &mut out,
                );
            }
            out.len()
        })
    });
    g.finish();
}

/// Collects finished calls.
#[allow(clippy::vec_box)] // the pipeline hands calls over boxed; unboxing would add a copy
struct Calls(Vec<Box<Call>>);
impl Sink for Calls {
    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        if let GrpcEvent::Finished(c) = ev {
            self.0.push(c);
        }
        CONTINUE
    }
}

fn run<S: Sink>(packets: &[Packet], sink: S) -> S {
    let mut p = Pipeline::new(PipelineConfig::new(), sink);
    for pkt in packets {
        let _ = p.packet(pkt);
    }
    p.finish();
    p.sink
}

fn schema() -> Schema {
    Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap()
}

fn protobuf(c: &mut Criterion) {
    let packets = read_all(std::fs::read(root().join("fixtures/bench_seed.pcap")).unwrap());
    let calls = run(&packets, Calls(Vec::new())).0;
    let messages: Vec<(&Call, &grpcscope::grpc::Message, bool)> = calls
        .iter()
        .flat_map(|c| {
            c.requests.iter().map(move |m| (&**c, m, true)).chain(c.responses.iter().map(move |m| (&**c, m, false)))
        })
        .collect();
    let bytes: usize = messages.iter().map(|(_, m, _)| m.length as usize).sum();
    let decoder = Decoder::new(schema(), 1 << 20, None, 32 << 20);
    let mut g = c.benchmark_group("protobuf");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("schema_to_json", |b| {
        b.iter(|| messages.iter().filter(|(c, m, req)| decoder.message(c, m, *req).json.is_some()).count())
    });
    g.bench_function("schemaless", |b| {
        b.iter(|| {
            messages.iter().filter(|(_, m, _)| m.data.as_ref().is_some_and(|d| schemaless::decode(d).is_ok())).count()
        })
    });
    g.finish();
}

/// Call records written as JSON lines, the calls already decoded: message
/// bodies rendered as JSON text straight from the decoded message (what
/// `calls --format json` does), and as trees serialized afterwards.
fn json_writer(c: &mut Criterion) {
    let packets = read_all(std::fs::read(root().join("fixtures/bench_seed.pcap")).unwrap());
    let calls = run(&packets, Calls(Vec::new())).0;
    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Elements(calls.len() as u64));
    for (name, text) in [("call_records", true), ("call_records_via_trees", false)] {
        let mut decoder = Decoder::new(schema(), 1 << 20, None, 32 << 20);
        decoder.json_text = text;
        let mut out = Vec::with_capacity(4 << 20);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for call in &calls {
                    write_json_line(&mut out, &CallRecord::new(call, &decoder)).unwrap();
                }
                out.len()
            })
        });
    }
    g.finish();
}

fn whole_pipeline(c: &mut Criterion) {
    let packets = read_all(replayed_pcap(20));
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.bench_function("stats", |b| b.iter(|| run(&packets, Stats::default()).total.calls));
    // The same on two threads (stats -j 2): every shard sees every batch
    // and decodes its own connections; the statistics merged at the end.
    // Each iteration copies the batches (a Vec of 512 cheap packet handles
    // each), as the reader would hand them over.
    g.bench_function("stats_sharded_2", |b| {
        b.iter(|| {
            let cfg = PipelineConfig::new();
            let batches = packets.chunks(512).map(<[Packet]>::to_vec);
            let shards = decode_sharded(&cfg, 2, Stats::default, batches);
            merge_stats(shards, Stats::default()).total.calls
        })
    });
    g.bench_function("calls_json", |b| {
        b.iter(|| {
            let decoder = Decoder::new(schema(), 1 << 20, None, 32 << 20);
            let printer = CallsPrinter::new(std::io::sink(), Format::Json, false, false, true, decoder);
            let mut printer = run(&packets, printer);
            printer.flush();
        })
    });
    g.finish();
}

/// The terminal UI's Calls filter over 300,000 calls (issue 21: under 0.2 s),
/// the calls listed as `grpcscope FILE` lists them (without their bytes).
fn tui_filter(c: &mut Criterion) {
    use grpcscope::tui::app::{App, View};
    use grpcscope::tui::model::Model;
    let bytes = replayed_pcap(300);
    let len = bytes.len() as u64;
    let cap = FileCapture::from_reader("bench", Box::new(std::io::Cursor::new(bytes)), Some(len)).unwrap();
    let msgs = grpcscope::tui::loader::collect(cap, PipelineConfig::new());
    let mut model = Model::new("bench".into(), false, Decoder::new(schema(), 1 << 20, None, 1 << 20));
    model.slim_calls = true;
    model.keep_whole = false;
    let mut app = App::new(model);
    app.absorb(msgs);
    let calls = app.model.calls.len();
    assert!(calls >= 300_000, "{calls} calls");
    let mut g = c.benchmark_group("tui");
    g.sample_size(10);
    g.throughput(Throughput::Elements(calls as u64));
    // Two filters in turn, so that each iteration filters every call anew.
    let filters = ["status != OK || duration > 5ms", "method contains \"Inventory\" && request_bytes > 10"];
    let mut turn = 0;
    g.bench_function("filter_300k_calls", |b| {
        b.iter(|| {
            turn += 1;
            app.view = View::Calls;
            app.apply_filter(filters[turn % 2]);
            app.lists[View::Calls.index()].visible.len()
        })
    });
    g.finish();
}

/// `count` TLS 1.3 records of `size` plaintext bytes each, sealed with the
/// suite's RustCrypto cipher under the traffic secret `secret`.
fn sealed_records(suite: Suite, secret: &[u8], count: u64, size: usize) -> Vec<([u8; 5], Vec<u8>)> {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    let key = expand_label(suite, secret, b"key", &[], suite.key_len()).unwrap();
    let iv = expand_label(suite, secret, b"iv", &[], 12).unwrap();
    (0..count)
        .map(|seq| {
            let mut nonce = iv.clone();
            for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                *n ^= s;
            }
            let mut buf = vec![0x42u8; size];
            buf.push(23); // the inner content type
            let len = (buf.len() + 16) as u16;
            let header = [23u8, 3, 3, (len >> 8) as u8, len as u8];
            let tag: Vec<u8> = match suite {
                Suite::ChaCha20Poly1305Sha256 => chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key)
                    .unwrap()
                    .encrypt_inout_detached(&nonce[..].try_into().unwrap(), &header, buf.as_mut_slice().into())
                    .unwrap()
                    .to_vec(),
                _ => aes_gcm::Aes128Gcm::new_from_slice(&key)
                    .unwrap()
                    .encrypt_inout_detached(&nonce[..].try_into().unwrap(), &header, buf.as_mut_slice().into())
                    .unwrap()
                    .to_vec(),
            };
            buf.extend_from_slice(&tag);
            (header, buf)
        })
        .collect()
}

/// TLS record decryption: full-size records (what a bulk gRPC stream
/// sends) through `RecordKeys::open`, and the whole pipeline on the tls13
/// fixture with its key log.
fn tls(c: &mut Criterion) {
    let mut g = c.benchmark_group("tls");
    let secret = [7u8; 32];
    for (name, suite) in
        [("open_16k_aes128gcm", Suite::Aes128GcmSha256), ("open_16k_chacha20poly1305", Suite::ChaCha20Poly1305Sha256)]
    {
        let records = sealed_records(suite, &secret, 64, 16 * 1024);
        g.throughput(Throughput::Bytes(64 * 16 * 1024));
        g.bench_function(name, |b| {
            b.iter_batched(
                || records.clone(),
                |mut records| {
                    let mut keys = RecordKeys::tls13(suite, &secret).unwrap();
                    records.iter_mut().map(|(h, body)| keys.open(h, body).unwrap().0.len()).sum::<usize>()
                },
                BatchSize::LargeInput,
            )
        });
    }
    let packets = read_all(std::fs::read(root().join("fixtures/tls13.pcap")).unwrap());
    let keys = std::fs::read_to_string(root().join("fixtures/tls13.keys")).unwrap();
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.bench_function("pipeline_stats_tls13_fixture", |b| {
        b.iter(|| {
            let cfg = PipelineConfig::new();
            cfg.tls_keys.add_text(&keys);
            let mut p = Pipeline::new(cfg, Stats::default());
            for pkt in &packets {
                let _ = p.packet(pkt);
            }
            p.finish();
            assert_eq!(p.sink.total.calls, 12);
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    capture_and_tcp,
    flow_table_100k,
    h2_and_hpack,
    protobuf,
    json_writer,
    whole_pipeline,
    tui_filter,
    tls
);
criterion_main!(benches);
