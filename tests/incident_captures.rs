//! Captures as incidents produce them (issue 17): begun inside a long-lived
//! connection (methods recovered from evidence and labelled by it, statuses
//! never guessed), and retransmissions that disagree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{grpcscope, scratch_dir, shared_captures};
use grpcscope::capture::LinkType;
use grpcscope::synth::h2::{
    frame, grpc_message, indexed, kind, literal, request_block, response_block, trailers_block,
};
use grpcscope::synth::{Conversation, PcapBuilder, Side};
use grpcscope::time::Timestamp;
use serde_json::Value;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn calls(args: &[&str]) -> Vec<Value> {
    let mut full = vec!["calls", "--format", "json"];
    full.extend_from_slice(args);
    let (code, out, err) = grpcscope(&full);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A connection seen from its SYN, its preface and SETTINGS exchanged.
fn opened(start: Timestamp) -> Conversation {
    let mut c = Conversation::new("10.0.0.1:40001".parse().unwrap(), "10.0.0.2:50051".parse().unwrap(), start);
    c.handshake();
    let mut preface = grpcscope::synth::h2::PREFACE.to_vec();
    preface.extend(frame(kind::SETTINGS, 0, 0, &[]));
    c.send(Side::Client, &preface).send(Side::Server, &frame(kind::SETTINGS, 0, 0, &[]));
    c
}

/// One call on `c`: request head `head`, a request, an answer with status 0.
fn call(c: &mut Conversation, head: Vec<u8>, request: &[u8]) {
    let mut req = frame(kind::HEADERS, END_HEADERS, 1, &head);
    req.extend(frame(kind::DATA, END_STREAM, 1, &grpc_message(false, request)));
    let mut resp = frame(kind::HEADERS, END_HEADERS, 1, &response_block());
    resp.extend(frame(kind::DATA, 0, 1, &grpc_message(false, b"\x0a\x02ok")));
    resp.extend(frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, &trailers_block(0)));
    c.send(Side::Client, &req).send(Side::Server, &resp);
}

#[test]
fn the_same_request_on_another_connection_names_the_method_as_peer_evidence() {
    let request = b"\x0a\x0dsame-bytes-42";
    let start = Timestamp::from_parts(1_700_000_000, 0);
    // Connection 1, seen from its start: :path is a literal.
    let mut a = opened(start);
    call(&mut a, request_block("/demo.Peer/Echo", &[]), request);
    // Connection 2, picked up mid-way: :path is dynamic entry 62, inserted before the capture.
    let mut b =
        Conversation::new("10.0.0.3:40002".parse().unwrap(), "10.0.0.2:50051".parse().unwrap(), start.add_nanos(1_000));
    let mut head = indexed(62);
    head.extend([0x83, 0x86]); // :method POST, :scheme http
    head.extend(literal(":authority", b"localhost:50051"));
    head.extend(literal("content-type", b"application/grpc"));
    call(&mut b, head, request);
    let mut pcap = PcapBuilder::new(LinkType::RAW);
    for (ts, ip) in a.packets.iter().chain(b.packets.iter()) {
        pcap.push_ip(*ts, ip);
    }
    let path = scratch_dir("midstream-peer").join("peer.pcap");
    std::fs::write(&path, pcap.finish()).unwrap();
    let all = calls(&["--h2-port", "50051", path.to_str().unwrap()]);
    assert_eq!(all.len(), 2, "{all:?}");
    let direct = all.iter().find(|c| c["conn"]["id"] == 1).unwrap();
    assert_eq!(
        (direct["method"].as_str(), direct["method_source"].as_str()),
        (Some("/demo.Peer/Echo"), Some("header"))
    );
    let inferred = all.iter().find(|c| c["conn"]["id"] == 2).unwrap();
    assert_eq!(inferred["method"], "/demo.Peer/Echo");
    assert_eq!(inferred["method_source"], "peer");
    assert_eq!(inferred["method_slot"], "?dyn#1", ":path is the only unknown field");
    assert_eq!(inferred["grpc_status"], 0, "a literal grpc-status is read, whatever the table");
    let (_, text, _) = grpcscope(&["calls", "--h2-port", "50051", path.to_str().unwrap()]);
    assert!(text.contains("~/demo.Peer/Echo"), "an inferred method is marked: {text}");
}

#[test]
fn the_schema_names_the_one_method_that_fits_every_call_sharing_the_path_entry() {
    let Some(dir) = shared_captures("the_schema_names_the_one_method...") else { return };
    let protos = dir.join("protos");
    let pcap = dir.join("midstream_multiplex.pcap");
    let all = calls(&["--proto-path", protos.to_str().unwrap(), pcap.to_str().unwrap()]);
    let with_head: Vec<&Value> = all.iter().filter(|c| c["method_slot"].is_string()).collect();
    assert_eq!(with_head.len(), 84, "every request head captured shares one unknown :path entry");
    for c in &with_head {
        assert_eq!(c["method"], "/demo.shop.v1.Catalog/GetItem");
        assert_eq!(c["method_source"], "schema");
        assert_eq!(c["requests"][0]["type"], "demo.shop.v1.GetItemRequest");
        assert!(c["requests"][0]["json"]["id"].as_str().unwrap().starts_with("conc-"));
        // C-core indexes grpc-status: its entry predates the capture.
        assert_eq!(c["grpc_status"], Value::Null);
        assert_eq!(c["error_origin"], "unknown");
        assert!(c["status_unknown"].as_str().unwrap().contains("HPACK entry ?dyn#1"), "{}", c["status_unknown"]);
    }
    // Calls begun before the capture have no request head: no evidence, no method, no duration.
    let headless: Vec<&Value> = all.iter().filter(|c| c["method_slot"].is_null()).collect();
    assert!(!headless.is_empty());
    assert!(headless.iter().all(|c| c["method"].is_null() && c["duration_ms"].is_null()));
    let (_, stats, _) = grpcscope(&["stats", pcap.to_str().unwrap()]);
    let row = stats.lines().find(|l| l.starts_with("?dyn#{1-7} (conn 1)")).unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(row.split_whitespace().nth(3), Some("84"), "one row for the 84 calls sharing the entry: {row}");
}

#[test]
fn when_several_methods_fit_all_are_listed_and_the_method_stays_unknown() {
    let Some(dir) = shared_captures("when_several_methods_fit...") else { return };
    // A second service with the very same types makes the schema ambiguous.
    let extra = scratch_dir("midstream-ambiguous");
    std::fs::write(
        extra.join("twin.proto"),
        "syntax = \"proto3\";\npackage twin;\nimport \"demo/shop/v1/shop.proto\";\n\
         service Twin { rpc Fetch(demo.shop.v1.GetItemRequest) returns (demo.shop.v1.Item); }\n",
    )
    .unwrap();
    let protos = dir.join("protos");
    let pcap = dir.join("midstream_multiplex.pcap");
    let all = calls(&[
        "--proto-path",
        protos.to_str().unwrap(),
        "--proto-path",
        extra.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    let c = all.iter().find(|c| c["method_slot"].is_string()).unwrap();
    assert_eq!(c["method"], Value::Null);
    assert_eq!(c["method_source"], Value::Null);
    let candidates: Vec<&str> =
        c["method_candidates"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(candidates, vec!["/demo.shop.v1.Catalog/GetItem", "/twin.Twin/Fetch"]);
}

#[test]
fn a_retransmission_with_other_bytes_is_flagged_on_the_connection_and_the_call() {
    let mut c = opened(Timestamp::from_parts(1_700_000_000, 0));
    let head = frame(kind::HEADERS, END_HEADERS, 1, &request_block("/demo.Svc/Put", &[]));
    c.send(Side::Client, &head);
    // The request message, then a "retransmission" of it with other bytes.
    let seq = c.next_seq(Side::Client);
    c.send(Side::Client, &frame(kind::DATA, END_STREAM, 1, &grpc_message(false, b"\x0a\x03one")));
    c.send_at(Side::Client, seq, &frame(kind::DATA, END_STREAM, 1, &grpc_message(false, b"\x0a\x03two")));
    let mut resp = frame(kind::HEADERS, END_HEADERS, 1, &response_block());
    resp.extend(frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, &trailers_block(0)));
    c.send(Side::Server, &resp);
    let path = scratch_dir("retransmit-conflict").join("conflict.pcap");
    std::fs::write(&path, c.to_pcap(LinkType::ETHERNET)).unwrap();
    let all = calls(&[path.to_str().unwrap()]);
    let note = all[0]["notes"].as_array().unwrap().iter().find(|n| n["code"] == "retransmit_conflict");
    assert!(note.is_some_and(|n| n["text"].as_str().unwrap().contains("first copy")), "{:?}", all[0]["notes"]);
    let (_, conns, _) = grpcscope(&["conns", "-v", path.to_str().unwrap()]);
    assert!(conns.contains("retransmit_conflict: 1 retransmission(s)"), "{conns}");
    let (_, stats, _) = grpcscope(&["stats", path.to_str().unwrap()]);
    assert!(
        stats.lines().any(|l| l.starts_with("retransmit_conflict ") && l.split_whitespace().nth(1) == Some("1")),
        "{stats}"
    );
}

/// A call on a fresh connection; `answer` writes the server's side.
fn capture_of(name: &str, answer: impl FnOnce(&mut Conversation)) -> std::path::PathBuf {
    let mut c = opened(Timestamp::from_parts(1_700_000_000, 0));
    let mut req = frame(kind::HEADERS, END_HEADERS, 1, &request_block("/demo.Svc/Get", &[]));
    req.extend(frame(kind::DATA, END_STREAM, 1, &grpc_message(false, b"\x0a\x01x")));
    c.send(Side::Client, &req);
    answer(&mut c);
    let path = scratch_dir(name).join("capture.pcap");
    std::fs::write(&path, c.to_pcap(LinkType::ETHERNET)).unwrap();
    path
}

#[test]
fn trailers_lost_in_a_capture_gap_leave_the_status_unknown_not_a_transport_failure() {
    let path = capture_of("trailers-gap", |c| {
        let mut resp = frame(kind::HEADERS, END_HEADERS, 1, &response_block());
        resp.extend(frame(kind::DATA, 0, 1, &grpc_message(false, b"\x0a\x02ok")));
        c.send(Side::Server, &resp);
        // The trailers and 512 kB more never reached the capture; the client's
        // FIN acknowledges them.
        c.lose(Side::Server, 512 * 1024).fin(Side::Client);
    });
    let all = calls(&[path.to_str().unwrap()]);
    assert_eq!(all[0]["error_origin"], "unknown", "{}", all[0]);
    assert!(all[0]["status_unknown"].as_str().unwrap().contains("capture gap"), "{}", all[0]["status_unknown"]);
    assert_eq!(all[0]["transport_error"], Value::Null);
    // The FIN waited for the bytes it acknowledged, which never came.
    let (_, stats, _) = grpcscope(&["stats", path.to_str().unwrap()]);
    assert!(
        stats.lines().any(|l| l.starts_with("reorder_hold_expired ") && l.split_whitespace().nth(1) == Some("1")),
        "{stats}"
    );
}

#[test]
fn trailers_dropped_by_the_header_list_limit_leave_the_status_unreadable() {
    let path = capture_of("trailers-limit", |c| {
        let mut resp = frame(kind::HEADERS, END_HEADERS, 1, &response_block());
        resp.extend(frame(kind::DATA, 0, 1, &grpc_message(false, b"\x0a\x02ok")));
        let big = "x".repeat(600);
        let trailers = grpcscope::synth::h2::literal_block(&[("x-padding", &big), ("grpc-status", "5")]);
        resp.extend(frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, &trailers));
        c.send(Side::Server, &resp);
    });
    let all = calls(&["--max-header-list", "300", path.to_str().unwrap()]);
    assert_eq!(all[0]["error_origin"], "unknown", "{}", all[0]);
    assert!(all[0]["status_unknown"].as_str().unwrap().contains("--max-header-list"), "{}", all[0]["status_unknown"]);
    let notes = all[0]["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["code"] == "header_list_limit"), "the limit is noted on the call too: {notes:?}");
    // Without the limit the status is read.
    assert_eq!(calls(&[path.to_str().unwrap()])[0]["grpc_status"], 5);
}

#[test]
fn under_redact_a_value_whose_name_is_an_unknown_entry_is_redacted() {
    // Mid-connection: `authorization` sent as a literal whose name is an
    // HPACK entry from before the capture (index 62).
    let start = Timestamp::from_parts(1_700_000_000, 0);
    let mut c =
        Conversation::new("10.0.0.3:40002".parse().unwrap(), "10.0.0.2:50051".parse().unwrap(), start.add_nanos(1_000));
    let mut head = request_block("/demo.Svc/Get", &[]);
    let secret = b"Bearer s3cr3t-token";
    // A literal without indexing, name index 62 (4-bit prefix: 15, then 47), raw value.
    head.extend([0x0f, 0x2f, secret.len() as u8]);
    head.extend_from_slice(secret);
    call(&mut c, head, b"\x0a\x01x");
    let path = scratch_dir("redact-unnamed").join("capture.pcap");
    std::fs::write(&path, c.to_pcap(LinkType::ETHERNET)).unwrap();
    let p = path.to_str().unwrap();
    for args in [
        &["calls", "--h2-port", "50051", "--redact", "-v", p][..],
        &["frames", "--h2-port", "50051", "--redact", "-v", p],
    ] {
        let (code, out, err) = grpcscope(args);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("s3cr3t"), "{args:?} leaks the value:\n{out}");
        assert!(out.contains("<redacted 19 bytes"), "{args:?}:\n{out}");
    }
    let (_, out, _) = grpcscope(&["calls", "--h2-port", "50051", "--redact", "--redact-keep-unnamed", "-v", p]);
    assert!(out.contains("Bearer s3cr3t-token"), "the user opted out:\n{out}");
}

#[test]
fn no_text_output_passes_a_control_character_from_the_capture_to_the_terminal() {
    let mut c = opened(Timestamp::from_parts(1_700_000_000, 0));
    let head = request_block("/demo.Svc/Get\nFORGED ROW \x1b[2J", &[("x-note", "ring\x07bell\r\0")]);
    let mut req = frame(kind::HEADERS, END_HEADERS, 1, &head);
    req.extend(frame(kind::DATA, END_STREAM, 1, &grpc_message(false, b"\x0a\x01x")));
    c.send(Side::Client, &req);
    let mut resp = frame(kind::HEADERS, END_HEADERS, 1, &response_block());
    let trailers = grpcscope::synth::h2::literal_block(&[("grpc-status", "13"), ("grpc-message", "%1b[31mred%0aline")]);
    resp.extend(frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, &trailers));
    let mut goaway = 0u32.to_be_bytes().to_vec();
    goaway.extend(0u32.to_be_bytes());
    goaway.extend_from_slice(b"\x1b]0;owned\x07\x9b");
    resp.extend(frame(7, 0, 0, &goaway));
    c.send(Side::Server, &resp);
    let path = scratch_dir("terminal-injection").join("capture.pcap");
    std::fs::write(&path, c.to_pcap(LinkType::ETHERNET)).unwrap();
    let p = path.to_str().unwrap();
    for args in [
        &["calls", p][..],
        &["calls", "-v", p],
        &["frames", p],
        &["frames", "-v", p],
        &["stats", p],
        &["conns", "-v", p],
        &["explain", p],
    ] {
        let (code, out, err) = grpcscope(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let bad = out.char_indices().find(|(_, ch)| ch.is_control() && *ch != '\n');
        assert!(bad.is_none(), "{args:?} passes {bad:?} to the terminal:\n{out}");
        assert!(!out.contains("\nFORGED"), "{args:?}: a newline in :path forges a line:\n{out}");
    }
    let (_, table, _) = grpcscope(&["calls", p]);
    assert_eq!(table.lines().count(), 2, "a header and one row:\n{table}");
    assert!(table.contains("/demo.Svc/Get\\nFORGED ROW \\x1b[2J"), "escaped, not dropped:\n{table}");
    // JSON keeps the value as it is (JSON escapes it).
    assert_eq!(calls(&[p])[0]["method"], "/demo.Svc/Get\nFORGED ROW \x1b[2J");
}

#[test]
fn malformed_and_duplicated_grpc_status_are_read_as_grpc_go_reads_them() {
    let with_trailers = |name: &str, fields: &[(&str, &str)]| {
        let block = grpcscope::synth::h2::literal_block(fields);
        let path = capture_of(name, |c| {
            let mut resp = frame(kind::HEADERS, END_HEADERS, 1, &response_block());
            resp.extend(frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, &block));
            c.send(Side::Server, &resp);
        });
        calls(&[path.to_str().unwrap()]).remove(0)
    };
    let codes = |call: &Value| -> Vec<String> {
        call["notes"].as_array().unwrap().iter().map(|n| n["code"].as_str().unwrap().to_string()).collect()
    };
    for (i, bad) in ["-1", "abc", "", "4294967296"].into_iter().enumerate() {
        let call = with_trailers(&format!("status-malformed-{i}"), &[("grpc-status", bad)]);
        assert_eq!(
            (call["grpc_status"].as_u64(), call["error_origin"].as_str()),
            (Some(13), Some("application")),
            "{bad:?}"
        );
        assert!(codes(&call).contains(&"grpc_status_malformed".to_string()), "{bad:?}: {:?}", call["notes"]);
    }
    let call = with_trailers("status-twice", &[("grpc-status", "0"), ("grpc-status", "5")]);
    assert_eq!(call["grpc_status"], 5, "the last counts");
    assert_eq!(codes(&call), vec!["grpc_status_duplicated"]);
}
