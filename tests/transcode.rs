//! The wire-to-JSON transcoder (src/proto/transcode.rs) against the
//! decoder it stands in for: every message of the fixtures and of the
//! shared corpus, and thousands of mutations of them, render to the same
//! JSON text and the same count of unknown fields either way whenever the
//! transcoder answers; where it declines, the decoder's answer stands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use grpcscope::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
use grpcscope::capture::FileCapture;
use grpcscope::grpc::GrpcEvent;
use grpcscope::proto::{transcode, Schema, SchemaSources};
use serde_json::Value;
use std::path::Path;

/// The uncompressed messages of a capture: (method, from the client, bytes).
#[derive(Default)]
struct Messages(Vec<(String, bool, Bytes)>);

impl Sink for Messages {
    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        if let GrpcEvent::Finished(c) = ev {
            let Some(method) = c.method() else { return CONTINUE };
            for (request, list) in [(true, &c.requests), (false, &c.responses)] {
                for m in list.iter().filter(|m| !m.compressed) {
                    if let Some(d) = &m.data {
                        self.0.push((method.clone(), request, d.clone()));
                    }
                }
            }
        }
        CONTINUE
    }
}

fn messages(path: &Path, keys: Option<&Path>) -> Vec<(String, bool, Bytes)> {
    let cfg = PipelineConfig::new();
    if let Some(k) = keys {
        cfg.tls_keys.add_text(&std::fs::read_to_string(k).unwrap());
    }
    let mut cap = FileCapture::open(path).unwrap().with_key_store(cfg.tls_keys.clone());
    let mut p = Pipeline::new(cfg, Messages::default());
    while let Some(pkt) = cap.next_packet() {
        let _ = p.packet(&pkt);
    }
    p.finish();
    std::mem::take(&mut p.sink.0)
}

/// Whether the transcoder answered; panics where the two disagree.
fn agree(schema: &Schema, desc: &prost_reflect::MessageDescriptor, bytes: &[u8], what: &str) -> bool {
    let Some((text, unknown)) = transcode::to_json(desc, bytes) else { return false };
    match schema.decode_slowly(desc, bytes, true) {
        Ok((json, decoder_unknown)) => {
            let decoded = serde_json::to_string(&json).unwrap();
            if text != decoded {
                // A message with maps is rendered by the decoder through a
                // tree that widens 32-bit floats to 64 bits (1.1 becomes
                // 1.100000023841858); the transcoder writes the float sent.
                let (a, b): (Value, Value) =
                    (serde_json::from_str(&text).unwrap(), serde_json::from_str(&decoded).unwrap());
                assert!(same_as_f32(&a, &b, 0), "{what}: {} bytes {bytes:02x?}\n{text}\n{decoded}", bytes.len());
            }
            assert_eq!(unknown, decoder_unknown, "{what}: unknown fields");
        }
        Err(e) => panic!("{what}: the transcoder rendered {text} where the decoder refuses: {e}"),
    }
    true
}

/// Equal, numbers that are not integers compared as 32-bit floats, object
/// keys in the same order.
fn same_as_f32(a: &Value, b: &Value, depth: usize) -> bool {
    assert!(depth < 64);
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if !(x.is_i64() || x.is_u64()) || !(y.is_i64() || y.is_u64()) => {
            x.as_f64().map(|v| v as f32) == y.as_f64().map(|v| v as f32)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_as_f32(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, p), (l, q))| k == l && same_as_f32(p, q, depth + 1))
        }
        _ => a == b,
    }
}

/// Truncations and single-byte changes of `bytes`, a few dozen of each.
fn mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let step = (bytes.len() / 24).max(1);
    for at in (0..bytes.len()).step_by(step) {
        out.push(bytes[..at].to_vec());
        for x in [0x00, 0x01, 0x08, 0x7f, 0x80, 0xff] {
            let mut m = bytes.to_vec();
            m[at] ^= x;
            out.push(m);
        }
    }
    out
}

/// Checks every message; returns (messages, answered by the transcoder).
fn check(schema: &Schema, msgs: &[(String, bool, Bytes)], label: &str) -> (usize, usize) {
    let (mut n, mut answered) = (0, 0);
    for (i, (method, request, bytes)) in msgs.iter().enumerate() {
        let Some((input, output)) = schema.method(method) else { continue };
        let desc = if *request { input } else { output };
        n += 1;
        answered += usize::from(agree(schema, &desc, bytes, &format!("{label} message {i} ({method})")));
        // The first few of each method, mutated.
        if i < 40 {
            for m in mutations(bytes) {
                agree(schema, &desc, &m, &format!("{label} message {i} mutated"));
            }
        }
    }
    (n, answered)
}

#[test]
fn the_transcoder_renders_the_fixtures_as_the_decoder_does() {
    let root = common::root();
    let schema = Schema::load(&SchemaSources { proto_paths: vec![root.join("protos")], ..Default::default() }).unwrap();
    let (mut n, mut answered) = (0, 0);
    for name in ["unary.pcap", "streaming.pcap", "metadata.pcap", "errors.pcap", "bench_seed.pcap", "limits.pcap"] {
        let msgs = messages(&common::fixture(name), None);
        let (a, b) = check(&schema, &msgs, name);
        n += a;
        answered += b;
    }
    assert!(n > 100, "{n} messages checked");
    // Most messages are the transcoder's (no well-known types in them).
    assert!(answered * 10 >= n * 9, "{answered} of {n} transcoded");
}

#[test]
fn the_transcoder_renders_the_shared_corpus_as_the_decoder_does() {
    let Some(dir) = common::shared_captures("the_transcoder_renders_the_shared_corpus_as_the_decoder_does") else {
        return;
    };
    let schema = Schema::load(&SchemaSources { proto_paths: vec![dir.join("protos")], ..Default::default() }).unwrap();
    let keys = dir.join("tls_keylog.keys");
    let (mut n, mut answered) = (0, 0);
    for (name, path) in common::shared_scenarios(&dir) {
        let msgs = messages(&path, Some(&keys));
        let (a, b) = check(&schema, &msgs, &name);
        n += a;
        answered += b;
    }
    assert!(n > 1000, "{n} messages checked");
    assert!(answered > 0, "{answered} of {n} transcoded");
    eprintln!("{answered} of {n} messages of the shared corpus transcoded");
}
