//! The hostile captures of issue 18 (src/synth/hostile.rs): each crashed,
//! exhausted memory or answered wrongly before its fix. For each, the
//! annotation or error it gets now, the good call beside it decoded in
//! full, and peak memory under the cap docs/robustness.md gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::measure::{run_measured, run_measured_into};
use common::{fixture, json_lines, scratch_dir};
use grpcscope::fuzzing::json_depth;
use grpcscope::synth::adversarial::{GOOD_METHOD, HOSTILE_METHOD};
use grpcscope::synth::hostile::{self, CASES};
use serde_json::Value;
use std::io::BufRead;

/// Peak memory every command may take on every hostile capture.
const MEMORY_CAP_MB: u64 = 512;

fn path(file: &str) -> String {
    fixture(&format!("adversarial/{file}")).to_str().unwrap().to_string()
}

/// Runs `args` on `file`, checks exit 0 and the memory cap, returns stdout.
fn run(file: &str, args: &[&str]) -> String {
    let p = path(file);
    let mut all: Vec<&str> = args.to_vec();
    all.push(&p);
    let r = run_measured("hostile", &all);
    assert_eq!(r.code, 0, "{file} {args:?}: {}", r.stderr);
    assert!(r.max_rss_mb < MEMORY_CAP_MB, "{file} {args:?}: {} MB", r.max_rss_mb);
    r.stdout
}

fn calls_of(file: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["calls", "--format", "json", "-v"];
    args.extend_from_slice(extra);
    json_lines(&run(file, &args))
}

fn hostile_call(calls: &[Value]) -> &Value {
    calls.iter().find(|c| c["method"] == HOSTILE_METHOD).expect("the hostile call")
}

fn assert_good(calls: &[Value]) {
    let good = calls.iter().find(|c| c["method"] == GOOD_METHOD).expect("the good call");
    assert_eq!(good["grpc_status_name"], "OK");
    assert_eq!(good["notes"], serde_json::json!([]), "{good}");
}

/// Every command on every hostile capture: exit 0, under the cap, and no
/// output line that the capture could have filled with control characters.
#[test]
fn every_command_survives_every_hostile_capture() {
    for c in CASES {
        for args in [&["stats"][..], &["conns"], &["calls"], &["calls", "-v"], &["frames"]] {
            let out = run(c.file, args);
            assert!(!out.chars().any(|ch| ch.is_control() && ch != '\n'), "{} {args:?}", c.file);
        }
        let calls = calls_of(c.file, &[]);
        assert_good(&calls);
        for call in &calls {
            assert!(json_depth(call) < 80, "{}: JSON {} levels deep", c.file, json_depth(call));
        }
    }
}

#[test]
fn groups_nested_2500_deep_stop_at_the_nesting_limit() {
    let calls = calls_of("deep_groups.pcap.gz", &[]);
    let mut v = &hostile_call(&calls)["requests"][0]["fields"][0];
    let mut levels = 0;
    while v["fields"].is_array() {
        v = &v["fields"][0];
        levels += 1;
    }
    assert_eq!(levels, 32, "{v}");
    assert_eq!(v["not_decoded"], "groups nested deeper than 32 levels", "{v}");
    assert_eq!(v["length"], (hostile::GROUP_DEPTH - 32) * 2 + 2, "the skipped groups' bytes");
    let text = run("deep_groups.pcap.gz", &["calls", "-v"]);
    assert!(text.contains("groups nested deeper than 32 levels"));
}

#[test]
fn an_any_1000_deep_in_status_details_is_refused_with_a_note() {
    let calls = calls_of("deep_any.pcap.gz", &[]);
    let c = hostile_call(&calls);
    assert_eq!(c["grpc_status_name"], "INVALID_ARGUMENT");
    assert_eq!(c["grpc_message"], "deep any");
    assert!(c["status_details"].is_null(), "{}", c["status_details"]);
    let note = c["notes"].as_array().unwrap().iter().find(|n| n["code"] == "status_details").expect("a note");
    assert!(note["text"].as_str().unwrap().contains("google.protobuf.Any nested deeper than 32 levels"), "{note}");
    let text = run("deep_any.pcap.gz", &["calls", "-v"]);
    assert!(text.contains("status details: not decodable: google.protobuf.Any nested deeper than 32"));
}

/// A proto under which the json_amplification call's messages are 31
/// million int32 (the request) and 60 million packed ones (the response).
fn packed_proto(dir: &std::path::Path) -> String {
    let proto = "syntax = \"proto3\";\npackage grpcscope;\nservice Check { rpc Hostile(Packed) returns (Packed); }\nmessage Packed { repeated int32 v = 1; }\n";
    std::fs::write(dir.join("packed.proto"), proto).unwrap();
    dir.to_str().unwrap().to_string()
}

#[test]
fn amplified_messages_are_rendered_within_the_budget_and_marked_truncated() {
    let calls = calls_of("json_amplification.pcap.gz", &[]);
    let req = &hostile_call(&calls)["requests"][0];
    assert_eq!(req["decompressed_length"], hostile::AMPLIFIED_BYTES);
    let shown = req["fields"].as_array().unwrap().len();
    assert!(shown > 10_000 && shown < 100_000, "{shown} fields shown");
    let marker = req["truncated"].as_str().unwrap();
    assert!(
        marker.contains(&format!("of {}", hostile::AMPLIFIED_BYTES)) && marker.contains("--max-rendered-size"),
        "{marker}"
    );
    // With the schema: the request's int32s are cut at a field, the
    // response's one packed field does not fit at all.
    let dir = scratch_dir("hostile-packed");
    let protos = packed_proto(&dir);
    let calls = calls_of("json_amplification.pcap.gz", &["--proto-path", &protos]);
    let c = hostile_call(&calls);
    let req = &c["requests"][0];
    let ints = req["json"]["v"].as_array().unwrap().len();
    assert!(ints > 100_000 && ints < 2_000_000, "{ints} values shown");
    assert!(req["truncated"].is_string());
    let resp = &c["responses"][0];
    assert_eq!(resp["json"], serde_json::json!({}), "nothing of the one packed field fits");
    assert!(resp["truncated"].as_str().unwrap().starts_with("rendered up to byte 0 of"), "{resp}");
    // Text output says so too; a larger budget shows more.
    let text = run("json_amplification.pcap.gz", &["calls", "-v", "--proto-path", &protos]);
    assert!(text.contains("! truncated: rendered up to byte"));
    let more = calls_of("json_amplification.pcap.gz", &["--proto-path", &protos, "--max-rendered-size", "200000000"]);
    assert!(hostile_call(&more)["requests"][0]["json"]["v"].as_array().unwrap().len() > ints);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn header_lists_of_all_open_streams_share_one_budget() {
    let stats = json_lines(&run("header_amplification.pcap.gz", &["stats", "--format", "json"]));
    let summary = stats.iter().find(|l| l["section"] == "summary").unwrap();
    let hits = summary["problems"]["open_headers_limit"].as_u64().unwrap();
    // A quarter of 64 MiB for the connection, at 258 bytes a field: two streams of 30,000 fields, and some of a third.
    let streams = u64::from(hostile::AMPLIFIED_STREAMS);
    assert!((streams - 3..=streams).contains(&hits), "{hits} blocks hit the budget");
    let calls = calls_of("header_amplification.pcap.gz", &[]);
    let cut = calls.iter().filter(|c| {
        c["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["code"] == "header_list_limit" || n["code"] == "open_headers_limit")
    });
    assert!(cut.count() as u64 >= hits);
    // A smaller budget is hit sooner.
    let small = run("header_amplification.pcap.gz", &["stats", "--format", "json", "--max-open-headers", "1000000"]);
    let small = json_lines(&small);
    let s = small.iter().find(|l| l["section"] == "summary").unwrap();
    assert_eq!(s["problems"]["open_headers_limit"].as_u64().unwrap(), streams);
}

#[test]
fn explain_streams_a_million_pings() {
    let dir = scratch_dir("hostile-pings-out");
    let out = dir.join("explain.txt");
    let p = path("ping_flood.pcap.gz");
    let r = run_measured_into("hostile-pings", &["explain", "--conn", "2", &p], Some(&out));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.max_rss_mb < 128, "explain held {} MB", r.max_rss_mb);
    let lines = std::io::BufReader::new(std::fs::File::open(&out).unwrap()).lines();
    let pings = lines.map_while(Result::ok).filter(|l| l.ends_with("PING on stream 0")).count();
    assert_eq!(pings, hostile::PINGS);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_waiting_for_an_import_never_sent_are_indexed() {
    let calls = calls_of("reflection_pending.pcap.gz", &[]);
    let r = calls.iter().find(|c| c["method"].as_str().unwrap().contains("ServerReflection")).unwrap();
    assert_eq!(r["responses"].as_array().unwrap().len(), hostile::PENDING_FILES);
}

#[test]
fn a_schema_from_reflection_applies_to_the_server_that_sent_it_only() {
    let calls = calls_of("reflection_two_servers.pcap.gz", &[]);
    let get: Vec<&Value> = calls.iter().filter(|c| c["method"] == "/demo.Svc/Get").collect();
    assert_eq!(get.len(), 2);
    let (a, b) = if get[0]["conn"]["server"] == "10.0.0.2:50051" { (get[0], get[1]) } else { (get[1], get[0]) };
    assert_eq!(a["requests"][0]["type"], "demo.Reply");
    assert_eq!(a["requests"][0]["type_source"], "reflection from 10.0.0.2:50051");
    assert_eq!(a["responses"][0]["json"], serde_json::json!({"text": "hello"}));
    assert_eq!(b["conn"]["server"], "10.0.0.3:50051");
    assert!(b["requests"][0]["type"].is_null(), "{b}");
    assert!(b["requests"][0]["fields"].is_array(), "shown without a schema");
    let text = run("reflection_two_servers.pcap.gz", &["calls", "-v"]);
    assert!(text.contains("demo.Reply (type from reflection from 10.0.0.2:50051)"));
}

/// Filters generated by scripts: a clear error, or an answer, never a crash.
#[test]
fn generated_filters_answer_or_fail_clearly() {
    let p = path("deep_groups.pcap.gz");
    let deep = format!("{}conn == 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let r = run_measured("hostile-filter", &["calls", "-Y", &deep, &p]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("parentheses nested deeper than 256 levels"), "{}", r.stderr);
    let nots = format!("{}conn == 1", "!".repeat(100_000));
    let r = run_measured("hostile-filter", &["calls", "--format", "json", "-Y", &nots, &p]);
    assert_eq!((r.code, json_lines(&r.stdout).len()), (0, 1), "{}", r.stderr);
    // Without spaces: one argument may hold at most 128 kB (MAX_ARG_STRLEN).
    let ids: Vec<String> = (3..10_003).map(|n| format!("conn=={n}")).collect();
    let chain = format!("{}||conn==2", ids.join("||"));
    let r = run_measured("hostile-filter", &["calls", "--format", "json", "-Y", &chain, &p]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls = json_lines(&r.stdout);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["method"], HOSTILE_METHOD);
}

fn notes_of(c: &Value) -> Vec<String> {
    c["notes"].as_array().unwrap().iter().map(|n| n["code"].as_str().unwrap().to_string()).collect()
}

#[test]
fn reused_and_even_stream_ids_keep_their_calls_annotated() {
    let calls = calls_of("stream_id_misuse.pcap.gz", &[]);
    let hostile: Vec<&Value> = calls.iter().filter(|c| c["method"] == HOSTILE_METHOD).collect();
    let ids: Vec<u64> = hostile.iter().map(|c| c["stream_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![5, 3, 8]);
    assert_eq!(notes_of(hostile[0]), Vec::<String>::new());
    assert_eq!(notes_of(hostile[1]), vec!["stream_id_reused"]);
    assert_eq!(notes_of(hostile[2]), vec!["even_stream"]);
    for c in &hostile {
        assert_eq!((c["grpc_status_name"].as_str(), c["responses"].as_array().unwrap().len()), (Some("OK"), 1));
    }
    let stats = json_lines(&run("stream_id_misuse.pcap.gz", &["stats", "--format", "json"]));
    let p = &stats.iter().find(|l| l["section"] == "summary").unwrap()["problems"];
    assert_eq!((p["stream_id_reused"].as_u64(), p["even_stream"].as_u64()), (Some(1), Some(1)), "counted once: {p}");
    assert!(p["closed_stream"].is_null(), "the reused stream's frames are not on a closed stream: {p}");
    // Issue 22: each code comes with what it means, in conns and stats.
    let conns = run("stream_id_misuse.pcap.gz", &["conns"]);
    assert!(conns.contains("          stream_id_reused: a stream id used again"), "{conns}");
    let stats = run("stream_id_misuse.pcap.gz", &["stats"]);
    assert!(stats.contains("PROBLEMS NOTED (every code: docs/notes.md)"), "{stats}");
    assert!(stats
        .lines()
        .any(|l| l.starts_with("even_stream") && l.ends_with("a client-initiated stream with an even id")));
}

#[test]
fn requests_grpc_rejects_and_a_bad_status_line_are_annotated() {
    let calls = calls_of("malformed_heads.pcap.gz", &[]);
    let by_stream = |sid: u64| calls.iter().find(|c| c["conn"]["id"] == 2 && c["stream_id"] == sid).unwrap();
    let text = |sid: u64| {
        let c = by_stream(sid);
        let n = c["notes"].as_array().unwrap().iter().find(|n| n["code"] == "malformed_request").expect("a note");
        n["text"].as_str().unwrap().to_string()
    };
    assert!(text(1).contains(":method is \"GET\""), "{}", text(1));
    assert!(text(3).contains("no :path"), "{}", text(3));
    assert!(text(5).contains("2 :path fields"), "{}", text(5));
    assert!(text(7).contains("pseudo-header :path after regular header fields"), "{}", text(7));
    let bad = by_stream(9);
    assert_eq!(notes_of(bad), vec!["http_status_malformed"]);
    assert_eq!(bad["error_origin"], "transport");
    assert_eq!(bad["transport_error"]["implied_status_name"], "INTERNAL");
    assert!(bad["http_status"].is_null());
}

#[test]
fn gzip_members_all_decode_and_trailing_garbage_is_noted() {
    let calls = calls_of("gzip_members.pcap.gz", &[]);
    let c = hostile_call(&calls);
    let fields = c["requests"][0]["fields"].as_array().unwrap();
    let strings: Vec<&str> = fields.iter().map(|f| f["string"].as_str().unwrap()).collect();
    assert_eq!(strings, vec!["first", "second"], "both members");
    assert_eq!(c["responses"][0]["fields"][0]["string"], "reply");
    assert_eq!(notes_of(c), vec!["compressed_trailing_data"]);
    assert!(c["notes"][0]["text"].as_str().unwrap().contains("7 byte(s) that are not a gzip member"));
}

#[test]
fn an_rst_outside_the_window_is_ignored_as_a_tcp_stack_would() {
    let calls = calls_of("rst_outside_window.pcap.gz", &[]);
    let c = hostile_call(&calls);
    assert_eq!(c["grpc_status_name"], "OK", "the response after the forged RST still counts: {c}");
    assert_eq!(c["error_origin"], "none");
    let conns = run("rst_outside_window.pcap.gz", &["conns"]);
    assert!(conns.contains("rst_outside_window: 1 RST(s)"), "{conns}");
    assert!(!conns.contains("RST by"), "{conns}");
}

#[test]
fn nine_vlan_tags_and_ipv4_fragments_out_of_order_decode() {
    let calls = calls_of("fragments_and_vlans.pcap.gz", &[]);
    let c = hostile_call(&calls);
    assert_eq!(c["requests"][0]["fields"][0]["length"], 3000, "the request rebuilt from its fragments");
    assert_eq!(c["grpc_status_name"], "OK");
    let conns = json_lines(&run("fragments_and_vlans.pcap.gz", &["conns", "--format", "json"]));
    assert_eq!(conns.len(), 2);
}
