//! Issue 4's acceptance: ../shared/tools/score.py on the shared corpus.
//! docs/accuracy.md records the table.
mod common;

use std::process::Command;

/// Scenarios below 100, at the score they have today: a floor stops them
/// getting worse, and is raised as the issue that targets each lands.
const FLOORS: [(&str, f64); 4] = [
    // The capture itself lost 446 kB of one request (tshark agrees): that
    // request cannot be decoded honestly.
    ("large_messages", 91.6),
    // Cut inside a connection (issue 17): found, requests and responses are
    // 100; statuses are HPACK entries from before the cut (honestly
    // unknown), and 81 calls begun before the cut have no request head, so
    // no method: the scorer counts them as extra.
    ("midstream_multiplex", 38.2),
    // The same: grpc-js indexes grpc-status too.
    ("midstream_node", 79.3),
    // Issue 19 (TLS decryption): encrypted, no calls without the key log.
    ("tls_keylog", 0.0),
];

#[test]
fn score_py_on_the_shared_corpus() {
    let Some(dir) = common::shared_captures("score_py_on_the_shared_corpus") else { return };
    let probe = Command::new("python3").args(["-c", "import google.protobuf, google.rpc.status_pb2"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIP score_py_on_the_shared_corpus: python3 lacks protobuf/googleapis-common-protos (.ci/run installs them)");
        return;
    }
    let cmd = format!("{} calls --format json --proto-path {{protos}} {{pcap}}", common::grpcscope_bin().display());
    let out = Command::new("python3")
        .args([dir.join("../tools/score.py").to_str().unwrap(), "--corpus", dir.to_str().unwrap(), "--calls-cmd", &cmd])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    eprintln!("{table}");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for line in table.lines().skip(1).filter(|l| !l.starts_with("SCORE")) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (name, score): (&str, f64) = (cols[0], cols[4].parse().unwrap());
        let floor = FLOORS.iter().find(|(n, _)| *n == name).map_or(100.0, |(_, f)| *f);
        assert!(score >= floor, "{name} scored {score}, below its floor {floor}:\n{table}");
    }
}
