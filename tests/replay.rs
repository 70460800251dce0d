//! `calls --format grpcurl` and `--format ghz` on the shared corpus: every
//! command parses as grpcurl's command line and says what the call sent,
//! checked against `calls --format json` of the same capture.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use std::process::Command;

/// `calls` of a shared capture in `format`, with the corpus's schema.
fn calls(dir: &std::path::Path, pcap: &std::path::Path, format: &str, extra: &[&str]) -> (i32, String, String) {
    let protos = dir.join("protos");
    let mut args = vec!["calls", "-q", "--format", format, "--proto-path", protos.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(pcap.to_str().unwrap());
    grpcscope(&args)
}

#[test]
fn every_grpcurl_command_parses_and_replays_what_the_call_sent() {
    let Some(dir) = shared_captures("every_grpcurl_command_parses_and_replays_what_the_call_sent") else { return };
    let scratch = scratch_dir("grpcurl");
    let mut total = 0;
    for (scenario, pcap) in shared_scenarios(&dir) {
        let (code, commands, err) = calls(&dir, &pcap, "grpcurl", &[]);
        assert_eq!(code, 0, "{scenario}: {err}");
        let (_, json, _) = calls(&dir, &pcap, "json", &[]);
        let records = json_lines(&json);
        // One `# call N` heading per call, each followed by a command or why there is none.
        let headings = commands.lines().filter(|l| l.starts_with("# call ")).count();
        assert_eq!(headings, records.len(), "{scenario}");
        let unreplayable = commands.lines().filter(|l| l.starts_with("# not replayable: ")).count();
        let (cmds, calls_file) = (scratch.join(format!("{scenario}.sh")), scratch.join(format!("{scenario}.jsonl")));
        std::fs::write(&cmds, &commands).unwrap();
        std::fs::write(&calls_file, &json).unwrap();
        let out = Command::new("python3")
            .arg(root().join("tests/ecosystem/check_grpcurl.py"))
            .args([&cmds, &calls_file])
            .output()
            .expect("python3 runs the checker");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{scenario}: {report}");
        assert!(report.contains(&format!("checked {} commands", records.len() - unreplayable)), "{scenario}: {report}");
        total += records.len() - unreplayable;
    }
    assert!(total > 600, "{total} commands checked");
}

#[test]
fn grpcurl_commands_carry_the_metadata_and_say_why_a_call_cannot_be_replayed() {
    let Some(dir) = shared_captures("grpcurl_commands_carry_the_metadata") else { return };
    let (_, text, _) = calls(&dir, &dir.join("metadata.pcap"), "grpcurl", &[]);
    let first = text.lines().nth(1).unwrap();
    assert!(first.starts_with("grpcurl -plaintext -authority 127.0.0.1:8083 -import-path "), "{first}");
    for part in [
        "-proto demo/shop/v1/shop.proto",
        "-H 'x-tenant: acme corp'",
        "-H 'x-raw-bin: AAD/gA=='",
        "-d '{\"id\":\"meta-0\"}' 127.0.0.1:8083 demo.shop.v1.Catalog/GetItem",
    ] {
        assert!(first.contains(part), "{part} in {first}");
    }
    // TLS: no -plaintext; the server's name is the authority.
    let (_, tls, _) = calls(&dir, &dir.join("tls_keylog.pcapng"), "grpcurl", &[]);
    let cmd = tls.lines().nth(1).unwrap();
    assert!(cmd.starts_with("grpcurl -authority shop.demo.internal "), "{cmd}");
    // A capture begun mid-connection: a call whose :path is an HPACK entry
    // from before the capture, which no evidence names, is not replayed.
    let (_, mid, _) = calls(&dir, &dir.join("midstream_multiplex.pcap"), "grpcurl", &[]);
    assert!(mid.contains("# not replayable: the method is unknown (its :path was not captured)"), "{mid}");
}

#[test]
fn ghz_data_holds_one_methods_requests_in_call_order() {
    let Some(dir) = shared_captures("ghz_data_holds_one_methods_requests") else { return };
    let pcap = dir.join("unary_ok.pcap");
    let (code, data, err) = calls(&dir, &pcap, "ghz", &[]);
    assert_eq!(code, 0, "{err}");
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    let (_, json, _) = calls(&dir, &pcap, "json", &[]);
    let want: Vec<serde_json::Value> = json_lines(&json).iter().map(|c| c["requests"][0]["json"].clone()).collect();
    assert_eq!(data.as_array().unwrap(), &want);
    assert_eq!(want.len(), 40);
    assert_eq!(want[0], serde_json::json!({"id": "sku-0000-"}));
    // The command to run it, on standard error.
    assert!(err.contains("ghz --insecure --import-paths "), "{err}");
    assert!(err.contains("/demo/shop/v1/shop.proto --call demo.shop.v1.Catalog.GetItem --data-file ghz-data.json -n 40 127.0.0.1:50551"), "{err}");

    // A capture of several methods needs a filter naming one.
    let mixed = dir.join("node_client_mixed.pcap");
    let (code, _, err) = calls(&dir, &mixed, "ghz", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("the calls are of 3 methods"), "{err}");
    let out = scratch_dir("ghz").join("getitem.json");
    let (code, _, err) = calls(
        &dir,
        &mixed,
        "ghz",
        &["--filter", "method == \"/demo.shop.v1.Catalog/GetItem\"", "-o", out.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(!written.as_array().unwrap().is_empty());
    assert!(err.contains(&format!("--data-file {}", out.display())), "{err}");
}

#[test]
fn the_other_commands_refuse_replay_formats_and_say_which_command_writes_them() {
    let (code, _, err) = grpcscope(&["frames", "--format", "grpcurl", fixture("errors.pcap").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "`frames` writes text or json, not grpcurl: grpcurl commands and ghz data files are written by `calls`"
        ),
        "{err}"
    );
}
