//! Issue 4's acceptance: ../shared/tools/score.py on the shared corpus.
//! docs/accuracy.md records the table.
mod common;

use std::process::Command;

/// Scenarios below 100, at the score they have today: a floor stops them
/// getting worse, and is raised as the issue that targets each lands.
const FLOORS: [(&str, f64); 3] = [
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
];

#[test]
fn score_py_on_the_shared_corpus() {
    let Some(dir) = common::shared_captures("score_py_on_the_shared_corpus") else { return };
    let probe = Command::new("python3").args(["-c", "import google.protobuf, google.rpc.status_pb2"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        common::skipped(
            "score_py_on_the_shared_corpus: python3 lacks protobuf/googleapis-common-protos (.ci/run installs them)",
        );
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

/// Issue 19: the TLS scenario scores 100 from its .pcap with the key log
/// file too (score.py reads the .pcapng, whose keys are inside, by itself).
#[test]
fn tls_keylog_pcap_with_its_key_log_file_scores_100() {
    let Some(dir) = common::shared_captures("tls_keylog_pcap_with_its_key_log_file_scores_100") else { return };
    let probe = Command::new("python3").args(["-c", "import google.protobuf, google.rpc.status_pb2"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        common::skipped(
            "tls_keylog_pcap_with_its_key_log_file_scores_100: python3 lacks protobuf/googleapis-common-protos",
        );
        return;
    }
    let out_dir = common::scratch_dir("tls_keylog_pcap");
    let (pcap, keys, protos) = (dir.join("tls_keylog.pcap"), dir.join("tls_keylog.keys"), dir.join("protos"));
    let out = Command::new(common::grpcscope_bin())
        .args(["calls", "--format", "json", "--proto-path", protos.to_str().unwrap(), "--tls-keylog"])
        .args([keys.to_str().unwrap(), pcap.to_str().unwrap()])
        .env_remove("SSLKEYLOGFILE")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(out_dir.join("tls_keylog.calls.jsonl"), &out.stdout).unwrap();
    let scored = Command::new("python3")
        .args([dir.join("../tools/score.py").to_str().unwrap(), "--corpus", dir.to_str().unwrap()])
        .args(["--calls-dir", out_dir.to_str().unwrap(), "--only", "tls_keylog"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&scored.stdout);
    eprintln!("{table}");
    let row = table.lines().find(|l| l.starts_with("tls_keylog")).expect("a tls_keylog row");
    assert_eq!(row.split_whitespace().nth(4), Some("100.0"), "{table}");
}
