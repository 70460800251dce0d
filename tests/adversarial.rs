//! The adversarial fixtures (issue 9): one capture per resource limit, each
//! pushing its limit far past the default while a well-behaved call shares
//! the capture. For each: the limit's annotation and `stats` counter appear,
//! the good call still decodes in full, and the process stays under the
//! memory cap docs/robustness.md gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::measure::run_measured;
use common::{fixture, json_lines, scratch_dir};
use grpcscope::synth::adversarial::{self, FIXTURES, GOOD_METHOD, HOSTILE_METHOD};
use std::path::Path;

/// The resident-memory cap every adversarial run must stay under
/// (docs/robustness.md, "Adversarial fixtures").
const MEMORY_CAP_MB: u64 = 256;

/// The cap with the flow table full (250,000 connections that never carried
/// data, about 1.5 kB each): docs/robustness.md, "Adversarial fixtures".
const SYN_FLOOD_CAP_MB: u64 = 512;

/// The `problems` counters of `stats --format json`.
fn problems(stats: &str) -> serde_json::Value {
    let lines = json_lines(stats);
    let total = lines.iter().find(|l| l["section"] == "summary").expect("a summary section");
    total["problems"].clone()
}

/// The well-behaved call of a fixture decoded completely: OK, one message
/// each way, no annotation.
fn assert_good_call(calls: &str, file: &str) {
    let calls = json_lines(calls);
    let good: Vec<_> = calls.iter().filter(|c| c["method"] == GOOD_METHOD).collect();
    assert_eq!(good.len(), 1, "{file}: the well-behaved call is missing: {calls:?}");
    let c = good[0];
    assert_eq!(c["grpc_status_name"], "OK", "{file}: {c}");
    assert_eq!(c["complete"], true, "{file}: {c}");
    assert_eq!(c["requests"].as_array().map(Vec::len), Some(1), "{file}: {c}");
    assert_eq!(c["responses"].as_array().map(Vec::len), Some(1), "{file}: {c}");
    assert_eq!(c["notes"], serde_json::json!([]), "{file}: {c}");
}

#[test]
fn every_limit_is_annotated_counted_and_bounded() {
    for f in FIXTURES {
        let path = fixture(&format!("adversarial/{}", f.file));
        let path = path.to_str().unwrap();

        let stats = run_measured("adv-stats", &["stats", "--format", "json", path]);
        assert_eq!(stats.code, 0, "{}: {}", f.file, stats.stderr);
        let counted = problems(&stats.stdout)[f.code.as_str()].as_u64().unwrap_or(0);
        assert!(counted >= 1, "{}: no {} counter in stats: {}", f.file, f.code, stats.stdout);
        assert!(stats.max_rss_mb < MEMORY_CAP_MB, "{}: stats used {} MB", f.file, stats.max_rss_mb);

        let calls = run_measured("adv-calls", &["calls", "--format", "json", path]);
        assert_eq!(calls.code, 0, "{}: {}", f.file, calls.stderr);
        assert!(calls.max_rss_mb < MEMORY_CAP_MB, "{}: calls used {} MB", f.file, calls.max_rss_mb);
        assert_good_call(&calls.stdout, f.file);
        eprintln!(
            "{:<28} {:<24} {:>8}  stats {:>3} MB  calls {:>3} MB",
            f.file, f.code, counted, stats.max_rss_mb, calls.max_rss_mb
        );
    }
}

/// Limits of the gRPC layer annotate the hostile call itself.
#[test]
fn message_limits_annotate_the_hostile_call() {
    for (file, code, status) in [
        ("length_prefix_4gib.pcap.gz", "message_too_large", "RESOURCE_EXHAUSTED"),
        ("compression_bomb.pcap.gz", "decompression_limit", "RESOURCE_EXHAUSTED"),
    ] {
        let path = fixture(&format!("adversarial/{file}"));
        let run = run_measured("adv-msg", &["calls", "--format", "json", "-v", path.to_str().unwrap()]);
        let calls = json_lines(&run.stdout);
        let hostile = calls.iter().find(|c| c["method"] == HOSTILE_METHOD).expect("the hostile call");
        let codes: Vec<&str> = hostile["notes"].as_array().unwrap().iter().filter_map(|n| n["code"].as_str()).collect();
        assert!(codes.contains(&code), "{file}: {codes:?}");
        assert_eq!(hostile["grpc_status_name"], status, "{file}");
        let req = &hostile["requests"][0];
        if code == "message_too_large" {
            assert_eq!(req["length"], 4_294_967_295u64, "{file}: the claimed length is kept");
        } else {
            assert!(req["error"].as_str().unwrap().contains("--max-decompressed-size"), "{file}: {req}");
        }
    }
}

/// Limits of the HTTP/2 and TCP layers annotate the connection in `conns`.
#[test]
fn connection_limits_show_in_conns() {
    for (file, code) in [
        ("stream_ids.pcap.gz", "stream_limit"),
        ("continuation_flood.pcap.gz", "continuation_flood"),
        ("hpack_table_size.pcap.gz", "hpack_table_limit"),
        ("header_list.pcap.gz", "header_list_limit"),
        ("out_of_order_flood.pcap.gz", "reassembly_buffer_full"),
    ] {
        let path = fixture(&format!("adversarial/{file}"));
        let run = run_measured("adv-conns", &["conns", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        assert!(run.stdout.contains(code), "{file}: conns does not name {code}:\n{}", run.stdout);
    }
}

/// A tracked stream past --max-streams is noted, and the last stream ids
/// (2^31-1, and one with the reserved bit set) do not upset the decoder.
#[test]
fn stream_ids_up_to_two_to_the_31() {
    let path = fixture("adversarial/stream_ids.pcap.gz");
    let run = run_measured("adv-sid", &["stats", "--format", "json", path.to_str().unwrap()]);
    let p = problems(&run.stdout);
    assert_eq!(p["reserved_bit"], 1, "{p}");
    // 150,001 hostile streams, 10,000 of them tracked (the default --max-streams).
    assert_eq!(p["stream_limit"].as_u64().unwrap(), 140_002, "{p}");
    // The flag moves the limit: 100 tracked, the rest noted.
    let run = run_measured("adv-sid2", &["stats", "--format", "json", "--max-streams", "100", path.to_str().unwrap()]);
    assert_eq!(problems(&run.stdout)["stream_limit"].as_u64().unwrap(), 149_902);
}

/// A flood that stays under a raised limit is not noted at all: the
/// annotations come from the limits, not from the fixtures' shapes.
#[test]
fn raising_a_limit_removes_its_note() {
    let path = fixture("adversarial/length_prefix_4gib.pcap.gz");
    let args = ["calls", "--format", "json", "--max-message-size", "4294967295", path.to_str().unwrap()];
    let run = run_measured("adv-raise", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let calls = json_lines(&run.stdout);
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(c["notes"], serde_json::json!([]), "{c}");
    }
}

/// A million SYNs to distinct ports: the flow table evicts, memory stays
/// flat, and the well-behaved call after the flood is decoded.
#[test]
fn a_million_syns_keep_memory_flat() {
    let dir = scratch_dir("syn-flood");
    let path = dir.join("syn_flood.pcap");
    std::fs::write(&path, adversarial::syn_flood(1_000_000)).unwrap();
    let p = path.to_str().unwrap();
    let stats = run_measured("syn-stats", &["stats", "--format", "json", p]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let counted = problems(&stats.stdout)["flow_table_full"].as_u64().unwrap_or(0);
    // 1,000,001 connections, 250,000 tracked at once: the rest were evicted.
    assert!(counted >= 750_000, "flow_table_full {counted}");
    assert!(stats.max_rss_mb < SYN_FLOOD_CAP_MB, "stats used {} MB", stats.max_rss_mb);
    let calls = run_measured("syn-calls", &["calls", "--format", "json", p]);
    assert!(calls.max_rss_mb < SYN_FLOOD_CAP_MB, "calls used {} MB", calls.max_rss_mb);
    assert_good_call(&calls.stdout, "syn_flood");
    eprintln!("syn flood: flow_table_full {counted}, stats {} MB, calls {} MB", stats.max_rss_mb, calls.max_rss_mb);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
