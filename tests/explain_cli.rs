//! `grpcscope explain` (issue 10): every frame of a connection becomes a
//! step with its RFC section, every HPACK representation the fixtures use
//! is explained, and calls, statuses and reconnects are narrated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

/// The section of RFC 9113 that explains each frame type.
fn section(frame_type: &str) -> &'static str {
    match frame_type {
        "DATA" => "DATA (§6.1)",
        "HEADERS" | "CONTINUATION" | "PUSH_PROMISE" => "(§6.2): a header block",
        "PRIORITY" => "PRIORITY (§6.3)",
        "RST_STREAM" => "RST_STREAM (§6.4)",
        "SETTINGS" => "(§6.5)",
        "PING" => "(§6.7)",
        "GOAWAY" => "GOAWAY (§6.8)",
        "WINDOW_UPDATE" => "WINDOW_UPDATE (§6.9)",
        _ => "receivers ignore types they do not know (§4.1)",
    }
}

/// The words that explain each HPACK representation.
fn hpack_words(field: &serde_json::Value) -> Vec<&'static str> {
    let mut w = vec![match (field["kind"].as_str().unwrap(), field["dynamic"].as_bool().unwrap()) {
        ("indexed", false) => "static table index",
        ("indexed", true) => "the whole field, sent earlier on this connection",
        ("incremental_indexing", _) => "a literal added to the dynamic table (§6.2.1)",
        ("without_indexing", _) => "a literal not added to the table (§6.2.2)",
        ("never_indexed", _) => "(§6.2.3)",
        (k, _) => panic!("a representation the test does not know: {k}"),
    }];
    if field["value_literal"]["huffman"] == true {
        w.push("Huffman-coded: ");
    }
    if field["value_literal"]["huffman"] == false {
        w.push("raw bytes (§5.2)");
    }
    if field["evicted"].as_u64().unwrap_or(0) > 0 {
        w.push("of the oldest entries were evicted (§4.4)");
    }
    w
}

#[test]
fn every_frame_and_hpack_representation_of_every_fixture_is_explained() {
    let mut kinds_seen = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pcap") {
            continue;
        }
        let p = path.to_str().unwrap();
        let (_, frames, _) = grpcscope(&["frames", "-v", "--format", "json", p]);
        let mut by_conn: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
        for f in json_lines(&frames) {
            by_conn.entry(f["conn"].as_u64().unwrap()).or_default().push(f);
        }
        for (conn, frames) in by_conn {
            let (code, text, err) = grpcscope(&["explain", "--conn", &conn.to_string(), p]);
            assert_eq!(code, 0, "{p}: {err}");
            // The text is word-wrapped: compare with line breaks undone.
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for f in &frames {
                let t = f["type"].as_str().unwrap();
                if t == "PREFACE" {
                    assert!(flat.contains("24-byte connection preface"), "{p} conn {conn}");
                    continue;
                }
                *counts.entry(format!("{t} on stream {}", f["stream_id"])).or_default() += 1;
                assert!(flat.contains(section(t)), "{p} conn {conn}: no explanation of {t}");
                for field in f["hpack"].as_array().into_iter().flatten() {
                    kinds_seen.insert(field["kind"].as_str().unwrap().to_string());
                    for w in hpack_words(field) {
                        assert!(flat.contains(w), "{p} conn {conn}: {field} is not explained ({w:?})");
                    }
                }
            }
            for (title, n) in counts {
                assert_eq!(text.matches(&format!("  {title}\n")).count(), n, "{p} conn {conn}: steps for {title}");
            }
        }
    }
    // The fixtures use every representation but never-indexed.
    assert!(kinds_seen.len() >= 3, "{kinds_seen:?}");
}

#[test]
fn a_call_is_narrated_with_its_prefix_status_and_meaning() {
    let p = fixture("errors.pcap");
    let (_, calls, _) = grpcscope(&["calls", "--format", "json", p.to_str().unwrap()]);
    let calls = json_lines(&calls);
    let (n, call) = calls.iter().enumerate().find(|(_, c)| c["error_origin"] == "application").unwrap();
    let (code, text, err) = grpcscope(&["explain", "--call", &(n + 1).to_string(), p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&format!("Walkthrough of call on stream {}", call["stream_id"])), "{text}");
    assert!(flat.contains("TCP SYN") && flat.contains("24-byte connection preface"), "{text}");
    let status = format!("grpc-status {} {}", call["grpc_status"], call["grpc_status_name"].as_str().unwrap());
    assert!(flat.contains(&status), "{status} in {text}");
    assert!(flat.contains("The application chose this status: the transport worked."), "{text}");
    let req = &call["requests"][0];
    let prefix = format!("00 {:08x}", req["length"].as_u64().unwrap());
    let prefix = format!("{} {} {} {} {}", &prefix[..2], &prefix[3..5], &prefix[5..7], &prefix[7..9], &prefix[9..11]);
    assert!(flat.contains(&format!("the 5-byte prefix {prefix} says compressed=0")), "{prefix} in {text}");
    // Only this call's stream, besides the connection's own frames.
    for other in calls.iter().filter(|c| c["conn"]["id"] == call["conn"]["id"] && c["stream_id"] != call["stream_id"]) {
        assert!(!text.contains(&format!("on stream {}\n", other["stream_id"])), "{text}");
    }
    let (code, _, err) = grpcscope(&["explain", "--call", "999", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--call 999") && err.contains("numbered from 1"), "{err}");
    // A connection that is not there is an error too: exit 2, nothing on stdout.
    let (code, out, err) = grpcscope(&["explain", "--conn", "99", p.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("connection 99 is not in this capture") && err.contains("grpcscope conns"), "{err}");
}

#[test]
fn a_reset_and_a_reconnect_are_explained() {
    let p = fixture("reconnect.pcap");
    let (_, conns, _) = grpcscope(&["conns", "--format", "json", p.to_str().unwrap()]);
    let conns = json_lines(&conns);
    let next = conns.iter().find(|c| !c["reconnect_of"].is_null()).expect("a reconnect in the fixture");
    let prev = next["reconnect_of"].as_u64().unwrap();
    let (_, text, _) = grpcscope(&["explain", "--conn", &prev.to_string(), p.to_str().unwrap()]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&format!("The client's channel reconnects: connection {}", next["id"])), "{text}");
    assert!(flat.contains("The connection ends:"), "{text}");
    let p = fixture("cancel.pcap");
    let (_, text, _) = grpcscope(&["explain", p.to_str().unwrap()]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("RST_STREAM (§6.4)") && flat.contains("with CANCEL"), "{text}");
}

/// The walkthrough tells what the capture holds, never a template: a
/// proxy's 504 is not "`:status 200`", and its HTML page is no gRPC message.
#[test]
fn explanations_follow_the_data_not_a_template() {
    let p = fixture("proxy.pcap");
    let (code, text, err) = grpcscope(&["explain", "--call", "5", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("These are the response headers: :status 504 and content-type text/html."), "{text}");
    assert!(flat.contains("A gRPC server always answers 200"), "{text}");
    assert!(!flat.contains(":status 200 and the content-type"), "{text}");
    assert!(flat.contains("so these bytes are not gRPC messages but the body as sent"), "{text}");
    // The request's DATA says which message it carries.
    assert!(flat.contains("These bytes carry gRPC message 1 (11 B)"), "{text}");
    // -bin metadata: as sent (base64), then the bytes it stands for; Huffman
    // sizes wire first, as `frames -v` gives them.
    let (_, text, _) = grpcscope(&["explain", "--call", "1", fixture("errors.pcap").to_str().unwrap()]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("grpc-status-details-bin: CAMSM2lu"), "{text}");
    assert!(flat.contains("(base64 of ") && flat.contains(" bytes: 08 03 12 33"), "{text}");
    assert!(flat.contains("bytes on the wire decode to"), "{text}");
    // Messages decode with the schema flags, and without them by field number.
    let deadline = fixture("deadline.pcap");
    let (_, text, _) = grpcscope(&["explain", "--call", "1", "--proto-path", "protos", deadline.to_str().unwrap()]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(r#"Decoded as grpcscope.fixtures.v1.GetPartRequest: {"sku":"slow-1","delayMs":400}"#),
        "{text}"
    );
    let (_, text, _) = grpcscope(&["explain", "--call", "1", deadline.to_str().unwrap()]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(r#"its fields by number: 1:"slow-1" 2:400"#), "{text}");
}
