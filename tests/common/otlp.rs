//! The OTLP receiver of tests/ecosystem/otlp_receiver.py, run beside a test.

use super::{json_lines, root, scratch_dir, skipped};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running receiver: its ports, and where it writes what it received.
pub struct Receiver {
    child: Child,
    /// Its OTLP/HTTP port.
    pub http: u16,
    /// Its OTLP/gRPC port.
    pub grpc: u16,
    out: PathBuf,
}

impl Receiver {
    /// Starts one, or says why the test is skipped.
    pub fn start(test: &str, extra: &[&str]) -> Option<Receiver> {
        let ok = Command::new("python3")
            .args(["-c", "import grpc, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skipped(&format!(
                "{test}: the receiver needs Python's opentelemetry-proto and grpcio \
                 (python3 -m pip install opentelemetry-proto grpcio; .ci/run installs them)"
            ));
            return None;
        }
        let out = scratch_dir(test).join("spans.jsonl");
        let mut child = Command::new("python3")
            .arg(root().join("tests/ecosystem/otlp_receiver.py"))
            .arg(root().join("docs/otel.md"))
            .arg(&out)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 4, "receiver said {line:?}");
        Some(Receiver { child, http: words[1].parse().unwrap(), grpc: words[3].parse().unwrap(), out })
    }

    /// Stops it; the spans it received, and its last line (problems, requests).
    pub fn stop(mut self) -> (Vec<Value>, Value) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
        let mut lines = json_lines(&std::fs::read_to_string(&self.out).unwrap());
        let summary = lines.pop().unwrap();
        assert_eq!(summary["problems"], serde_json::json!([]), "the receiver found problems");
        (lines, summary)
    }
}
