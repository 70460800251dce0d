//! Differential test of TCP reassembly against tshark's `follow,tcp,raw`,
//! and connection counts against each shared capture's meta.json.
mod common;

use grpcscope::analysis::pipeline::ConnReport;
use grpcscope::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
use grpcscope::capture::FileCapture;
use grpcscope::tcp::{ConnSummary, Dir, StreamEvent};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Default)]
struct Collect {
    bytes: BTreeMap<(u64, Dir), Vec<u8>>,
    conns: Vec<ConnSummary>,
}

impl Sink for Collect {
    fn stream_event(&mut self, ev: &StreamEvent) -> Flow {
        match ev {
            StreamEvent::Data { conn, dir, data, .. } => {
                self.bytes.entry((*conn, *dir)).or_default().extend_from_slice(data)
            }
            // tshark writes this marker (with its C string terminator) where bytes
            // are missing, so gaps are compared too.
            StreamEvent::Gap { conn, dir, len, .. } => self
                .bytes
                .entry((*conn, *dir))
                .or_default()
                .extend_from_slice(format!("[{len} bytes missing in capture file]\0").as_bytes()),
            _ => {}
        }
        CONTINUE
    }
    fn connection(&mut self, c: ConnReport) -> Flow {
        self.conns.push(c.tcp);
        CONTINUE
    }
}

fn ours(path: &Path) -> Collect {
    let mut cap = FileCapture::open(path).unwrap();
    let mut p = Pipeline::new(PipelineConfig::new(), Collect::default());
    while let Some(pkt) = cap.next_packet() {
        let _ = p.packet(&pkt);
    }
    p.finish();
    assert!(cap.warnings().is_empty(), "{:?}", cap.warnings());
    p.sink
}

/// tshark's view: per stream (in stream order), node 0's address and the
/// bytes each node sent.
fn tshark_follow(path: &Path, streams: usize) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let file = path.to_str().unwrap();
    let mut args = vec!["-r", file, "-q"];
    let specs: Vec<String> = (0..streams).map(|i| format!("follow,tcp,raw,{i}")).collect();
    for s in &specs {
        args.extend(["-z", s.as_str()]);
    }
    let text = common::tshark(&args);
    let mut out = BTreeMap::new();
    for block in text.split("Follow: tcp,raw").skip(1) {
        let mut stream = usize::MAX;
        let mut node0 = String::new();
        let (mut from0, mut from1) = (Vec::new(), Vec::new());
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("Filter: tcp.stream eq ") {
                stream = n.trim().parse().unwrap();
            } else if let Some(a) = line.strip_prefix("Node 0: ") {
                node0 = a.trim().to_string();
            } else if line.starts_with("Node 1: ") || line.starts_with('=') || line.trim().is_empty() {
            } else if let Some(hex) = line.strip_prefix('\t') {
                from1.extend(decode_hex(hex.trim()));
            } else {
                from0.extend(decode_hex(line.trim()));
            }
        }
        out.insert(stream, (node0, from0, from1));
    }
    out.into_values().collect()
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

#[test]
fn connection_counts_match_meta_json() {
    let Some(dir) = common::shared_captures("connection_counts_match_meta_json") else {
        return;
    };
    for (name, path) in common::shared_scenarios(&dir) {
        let meta = common::meta(&dir, &name);
        let got = ours(&path);
        let established = got.conns.iter().filter(|c| c.established).count() as u64;
        assert_eq!(established, meta["tcp_connections"].as_u64().unwrap(), "{name}: established connections");
        if let Some(attempts) = meta["tcp_connection_attempts"].as_u64() {
            assert_eq!(got.conns.len() as u64, attempts, "{name}: connection attempts");
        }
    }
}

#[test]
fn reassembled_bytes_match_tshark_follow() {
    let Some(dir) = common::shared_captures("reassembled_bytes_match_tshark_follow") else {
        return;
    };
    if !common::have_tshark("reassembled_bytes_match_tshark_follow") {
        return;
    }
    for (name, path) in common::shared_scenarios(&dir) {
        let got = ours(&path);
        let theirs = tshark_follow(&path, got.conns.len());
        assert_eq!(theirs.len(), got.conns.len(), "{name}: stream count");
        for (conn, (node0, from0, from1)) in got.conns.iter().zip(&theirs) {
            // tshark's node 0 is whoever sent the first packet: the client here.
            assert_eq!(node0, &conn.client.to_string(), "{name}: conn {} endpoints", conn.id);
            let empty = Vec::new();
            let c2s = got.bytes.get(&(conn.id, Dir::ToServer)).unwrap_or(&empty);
            let s2c = got.bytes.get(&(conn.id, Dir::ToClient)).unwrap_or(&empty);
            assert!(
                c2s == from0,
                "{name}: conn {} client->server differs ({} vs {} bytes)",
                conn.id,
                c2s.len(),
                from0.len()
            );
            assert!(
                s2c == from1,
                "{name}: conn {} server->client differs ({} vs {} bytes)",
                conn.id,
                s2c.len(),
                from1.len()
            );
        }
    }
}
