//! Issue 4: `grpcscope calls` on the project's fixtures: real methods,
//! statuses, origins and decoded field values.
mod common;

use common::*;
use serde_json::{json, Value};

fn calls(fixture_name: &str, extra: &[&str]) -> Vec<Value> {
    let path = fixture(fixture_name);
    let mut args = vec!["calls", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let (code, out, err) = grpcscope(&args);
    assert_eq!(code, 0, "{err}");
    json_lines(&out)
}

fn with_protos(name: &str) -> Vec<Value> {
    calls(name, &["--proto-path", "protos"])
}

#[test]
fn unary_calls_decode_with_the_schema() {
    let c = with_protos("unary.pcap");
    assert_eq!(c.len(), 6);
    let skus: Vec<&str> = c.iter().map(|x| x["requests"][0]["json"]["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["bolt-1", "gear-22", "spring-3", "bolt-4", "gear-5", "missing-9"]);
    let ok = &c[0];
    assert_eq!(
        (ok["method"].as_str(), ok["grpc_status_name"].as_str(), ok["error_origin"].as_str()),
        (Some("/grpcscope.fixtures.v1.Inventory/GetPart"), Some("OK"), Some("none"))
    );
    assert_eq!(ok["http_status"], 200);
    assert_eq!(ok["complete"], true);
    let part = &ok["responses"][0];
    assert_eq!(part["type"], "grpcscope.fixtures.v1.Part");
    assert_eq!(part["json"]["name"], "Part bolt-1 — “ünïcode” ✓");
    // Canonical proto3 JSON: enum names, int64 as strings, Timestamp as RFC 3339, camelCase.
    let seed: i64 = "bolt-1".bytes().map(i64::from).sum();
    assert_eq!(part["json"]["stock"], json!((seed * 1000 + 7).to_string()));
    assert_eq!(part["json"]["kind"], json!(["BOLT", "GEAR", "SPRING"][(seed % 3) as usize]));
    assert_eq!(part["json"]["updated"], json!(format!("{}", chrono_like(1_700_000_000 + seed))));
    assert_eq!(part["json"]["bins"]["A1"], json!(seed % 7));
    assert_eq!(part["json"]["delta"], json!(-(seed % 50)));
    assert!(part["fields"].is_null());
    let nf = &c[5];
    assert_eq!((nf["grpc_status"].as_u64(), nf["error_origin"].as_str()), (Some(5), Some("application")));
    assert_eq!(nf["grpc_message"], "part missing-9 not found");
    assert_eq!(nf["trailers_only"], true);
    assert_eq!(nf["response_headers"], json!([]));
}

/// RFC 3339 for whole seconds plus the fixtures' 0.5 s (the JSON is
/// prost-reflect's; the date is grpcscope's own calendar).
fn chrono_like(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let date = grpcscope::time::date_of_secs(secs);
    format!("{date}T{:02}:{:02}:{:02}.500Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[test]
fn without_a_schema_messages_are_fields_never_json() {
    let c = calls("unary.pcap", &[]);
    let req = &c[0]["requests"][0];
    assert!(req["json"].is_null() && req["type"].is_null());
    assert_eq!(req["fields"], json!([{"field": 1, "wire_type": "len", "length": 6, "string": "bolt-1"}]));
    let resp = &c[0]["responses"][0]["fields"];
    let updated = resp.as_array().unwrap().iter().find(|f| f["field"] == 8).unwrap();
    assert_eq!(updated["message"][1]["field"], 2, "the Timestamp parses as a nested message");
}

#[test]
fn error_statuses_with_every_standard_detail() {
    let c = with_protos("errors.pcap");
    let names: Vec<&str> = c.iter().map(|x| x["grpc_status_name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "INTERNAL",
            "FAILED_PRECONDITION",
            "UNIMPLEMENTED"
        ]
    );
    assert!(c.iter().all(|x| x["error_origin"] == "application"));
    assert_eq!(c[0]["grpc_message"], "invalid sku: must match [a-z0-9-]+ (got 100% wrong)");
    assert_eq!(c[2]["grpc_message"], "accès refusé\nzone: ünïcode ✓");
    let details = &c[0]["status_details"];
    assert_eq!(details["code"], 3);
    assert_eq!(details["details"][0]["@type"], "type.googleapis.com/google.rpc.BadRequest");
    assert_eq!(details["details"][0]["fieldViolations"][0]["field"], "sku");
    assert_eq!(details["details"][1]["reason"], "SKU_FORMAT");
    assert_eq!(details["details"][1]["metadata"]["sku"], "bad sku!");
    let quota = &c[3]["status_details"]["details"];
    assert_eq!(quota[0]["retryDelay"], "1.500s");
    assert_eq!(quota[1]["violations"][0]["subject"], "project:fixtures");
    assert_eq!(c[4]["status_details"]["details"][0]["stackEntries"], json!(["index.rs:42", "main.rs:7"]));
    let types: Vec<&str> =
        c[5]["status_details"]["details"].as_array().unwrap().iter().map(|d| d["@type"].as_str().unwrap()).collect();
    let expected: Vec<String> = ["PreconditionFailure", "ResourceInfo", "RequestInfo", "Help", "LocalizedMessage"]
        .iter()
        .map(|t| format!("type.googleapis.com/google.rpc.{t}"))
        .collect();
    assert_eq!(types, expected);
    assert_eq!(c[5]["status_details"]["details"][4]["message"], "la pièce est verrouillée");
    assert_eq!(c[6]["method"], "/grpcscope.fixtures.v1.Inventory/Discontinue");
    assert!(c[6]["requests"][0]["type"].is_null(), "an unknown method has no types even with a schema");
    assert_eq!(c[1]["trailers"].as_array().unwrap().iter().find(|h| h[0] == "x-failure-zone").unwrap()[1], "stock-db");
}

#[test]
fn a_deadline_is_a_transport_error_and_named_as_such() {
    let c = with_protos("deadline.pcap");
    let d = &c[0];
    assert_eq!(d["requests"][0]["json"], json!({"sku": "slow-1", "delayMs": 400}));
    assert!(d["grpc_status"].is_null());
    assert_eq!(d["error_origin"], "transport");
    assert_eq!(d["rst_stream"], json!({"error_code": 8, "name": "CANCEL", "from": "client"}));
    assert_eq!(d["timeout_ms"], 100.0);
    assert_eq!(d["transport_error"]["implied_status_name"], "DEADLINE_EXCEEDED");
    assert!(d["duration_ms"].as_f64().unwrap() >= 100.0);
    assert_eq!(d["complete"], true);
    assert_eq!((c[1]["grpc_status_name"].as_str(), c[1]["error_origin"].as_str()), (Some("OK"), Some("none")));
}

#[test]
fn a_cancelled_stream_keeps_what_arrived() {
    let c = with_protos("cancel.pcap");
    let w = &c[0];
    assert_eq!(w["method"], "/grpcscope.fixtures.v1.Inventory/Watch");
    assert_eq!(w["transport_error"]["implied_status_name"], "CANCELLED");
    assert_eq!(w["rst_stream"]["from"], "client");
    assert!(w["responses"].as_array().unwrap().len() >= 3);
    assert!(w["responses"].as_array().unwrap().iter().all(|m| m["json"]["sku"] == "watched"));
}

#[test]
fn streaming_calls_in_every_shape() {
    let c = with_protos("streaming.pcap");
    let counts: Vec<(usize, usize)> =
        c.iter().map(|x| (x["requests"].as_array().unwrap().len(), x["responses"].as_array().unwrap().len())).collect();
    assert_eq!(counts, [(1, 5), (4, 1), (3, 3)]);
    assert_eq!(c[1]["responses"][0]["json"], json!({"changes": 4, "total": "12"}));
    assert_eq!(c[1]["requests"][1]["json"], json!({"sku": "bolt-1", "delta": -2}));
    let echoes: Vec<&str> =
        c[2]["responses"].as_array().unwrap().iter().map(|m| m["json"]["text"].as_str().unwrap()).collect();
    assert_eq!(echoes, ["echo: note 1", "echo: note 2", "echo: note 3"]);
}

#[test]
fn compressed_messages_are_decompressed_with_their_encoding() {
    let c = with_protos("compression.pcap");
    let encs: Vec<Option<&str>> = c.iter().map(|x| x["request_encoding"].as_str()).collect();
    assert_eq!(
        encs,
        [None, Some("gzip"), Some("gzip"), Some("zstd"), Some("zstd"), Some("deflate"), Some("deflate"), None]
    );
    for call in &c[1..7] {
        for m in call["requests"].as_array().unwrap().iter().chain(call["responses"].as_array().unwrap()) {
            assert_eq!(m["compressed"], true, "{}", call["method"]);
            assert!(m["json"].is_object() && m["error"].is_null(), "{m}");
            assert!(m["decompressed_length"].as_u64().is_some());
        }
    }
    assert_eq!(c[3]["requests"][0]["json"]["sku"], "compressed-1");
}

#[test]
fn metadata_ascii_and_binary() {
    let c = with_protos("metadata.pcap");
    let h = |call: &Value, block: &str, name: &str| {
        call[block].as_array().unwrap().iter().find(|p| p[0] == name).map(|p| p[1].clone())
    };
    assert_eq!(h(&c[0], "request_headers", "x-tenant"), Some(json!("acme corp")));
    assert_eq!(h(&c[0], "request_headers", "x-raw-bin"), Some(json!("AAD/gAA")));
    assert_eq!(h(&c[1], "response_headers", "x-echo"), Some(json!("req-1")));
    assert_eq!(h(&c[1], "response_headers", "x-served-by-bin"), Some(json!("AAH+/w")));
    assert_eq!(h(&c[3], "trailers", "x-failure-zone"), Some(json!("stock-db")));
    let (_, text, _) = grpcscope(&["calls", "-v", fixture("metadata.pcap").to_str().unwrap()]);
    assert!(text.contains("x-raw-bin: AAD/gAA (5 bytes: 00 00 ff 80 00)"), "{text}");
}

#[test]
fn reflection_in_the_capture_is_enough_to_decode() {
    let c = calls("reflection.pcap", &[]);
    assert_eq!(c[0]["method"], "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
    assert_eq!(c[0]["requests"][0]["json"], json!({"listServices": ""}));
    assert_eq!(c[1]["requests"][0]["json"], json!({"sku": "reflected-1"}));
    assert_eq!(c[1]["responses"][0]["type"], "grpcscope.fixtures.v1.Part");
    assert_eq!(c[2]["responses"].as_array().unwrap().len(), 2);
}

#[test]
fn reconnects_show_each_connection_and_no_phantom_calls() {
    let c = with_protos("reconnect.pcap");
    assert_eq!(c.len(), 9);
    let conns: Vec<u64> = c.iter().map(|x| x["conn"]["id"].as_u64().unwrap()).collect();
    assert_eq!(conns, [1, 1, 1, 3, 3, 3, 5, 5, 5]);
    assert!(c.iter().all(|x| x["grpc_status_name"] == "OK"));
}

#[test]
fn mid_connection_status_is_unknown_not_invented() {
    let c = with_protos("mid_connection.pcap");
    assert_eq!(c.len(), 6);
    for call in &c {
        assert_eq!(
            call["method"], "/grpcscope.fixtures.v1.Inventory/GetPart",
            "the :path was a literal, so it is known"
        );
        assert!(call["grpc_status"].is_null());
        assert_eq!(call["error_origin"], "unknown");
        assert!(call["request_headers"].as_array().unwrap().iter().any(|h| h[0].is_null()));
    }
    assert_eq!(c[0]["requests"][0]["json"]["sku"], "seen-0");
    assert_eq!(c[0]["responses"][0]["json"]["sku"], "seen-0");
}

#[test]
fn text_output_is_aligned_and_verbose_text_tells_the_whole_call() {
    let (code, out, _) =
        grpcscope(&["calls", "--proto-path", "protos", "--color", "never", fixture("deadline.pcap").to_str().unwrap()]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("    # START"), "{out}");
    // The # column numbers calls as `explain --call N` takes them.
    assert!(lines[1].starts_with("    1 18:24:01.610179") && lines[2].starts_with("    2 18:24:01.711069"), "{out}");
    assert!(
        lines[1].contains("DEADLINE_EXCEEDED (RST by client)")
            && lines[1].contains(r#"{"sku":"slow-1","delayMs":400}"#),
        "{out}"
    );
    let col = lines[0].find("STATUS").unwrap();
    assert_eq!(&lines[2][col..col + 2], "OK");
    let (_, colored, _) = grpcscope(&["calls", "--color", "always", fixture("deadline.pcap").to_str().unwrap()]);
    assert!(colored.contains("\x1b[31;1mDEADLINE_EXCEEDED"), "transport errors are red");
    let (_, v, _) = grpcscope(&["calls", "-v", "--proto-path", "protos", fixture("errors.pcap").to_str().unwrap()]);
    assert!(v.contains("trailers (Trailers-Only response):"));
    assert!(v.contains("\"@type\": \"type.googleapis.com/google.rpc.RetryInfo\""));
    assert!(v.contains("status: PERMISSION_DENIED (application): accès refusé"));
}

#[test]
fn bad_schemas_are_one_clear_error() {
    let dir = scratch_dir("badproto");
    std::fs::write(dir.join("broken.proto"), "syntax = \"proto3\";\nmessage A { int32 x = 1 }\n").unwrap();
    let (code, _, err) = grpcscope(&[
        "calls",
        "--proto-path",
        dir.to_str().unwrap(),
        "--proto",
        "broken.proto",
        fixture("unary.pcap").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("broken.proto:2:") && err.lines().count() == 1, "{err}");
    let (code, _, err) = grpcscope(&[
        "calls",
        "--descriptor-set",
        fixture("unary.pcap").to_str().unwrap(),
        fixture("unary.pcap").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a usable FileDescriptorSet"), "{err}");
}

#[test]
fn a_descriptor_set_works_like_proto_files() {
    let fds = protox::compile(["grpcscope/fixtures/v1/inventory.proto"], [root().join("protos")]).unwrap();
    let path = scratch_dir("fds").join("inventory.protoset");
    std::fs::write(&path, prost::Message::encode_to_vec(&fds)).unwrap();
    assert_eq!(calls("unary.pcap", &["--descriptor-set", path.to_str().unwrap()]), with_protos("unary.pcap"));
}

#[test]
fn a_snaplen_cut_capture_flags_messages_never_misparses_them() {
    use grpcscope::capture::file::packets_from_bytes;
    use grpcscope::capture::writer::PcapWriter;
    let (packets, _) = packets_from_bytes(&std::fs::read(fixture("unary.pcap")).unwrap()).unwrap();
    let path = scratch_dir("snapcalls").join("snap.pcap");
    let mut w =
        PcapWriter::new(std::fs::File::create(&path).unwrap(), grpcscope::capture::LinkType::ETHERNET, 150).unwrap();
    for p in &packets {
        w.write_packet(p.ts, &p.data[..p.data.len().min(150)], p.orig_len).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let (code, out, _) = grpcscope(&["calls", "--format", "json", "--proto-path", "protos", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let c = json_lines(&out);
    assert_eq!(c.len(), 6, "every call is still found");
    let resp = &c[0]["responses"][0];
    assert!(resp["json"].is_null());
    assert!(resp["error"].as_str().unwrap().contains("never captured"), "{resp}");
    // The first request's header block was cut: its method is unknown, not guessed.
    assert!(c[0]["method"].is_null());
    assert_eq!(c[1]["requests"][0]["json"]["sku"], "gear-22", "what fits in the snaplen still decodes");
    assert!(
        c.iter().all(|x| x["error_origin"] == "unknown"),
        "statuses were cut off: unknown, not a transport failure"
    );
}

/// Issue 22: text in a pipe keeps every name whole (cut only to fit a terminal).
#[test]
fn text_output_in_a_pipe_never_cuts_a_method_name() {
    let path = fixture("reflection.pcap");
    let long = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
    let (code, out, err) = grpcscope(&["calls", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.contains(&format!("{long} OK"))), "{out}");
    let (code, out, err) = grpcscope(&["stats", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let row = out.lines().find(|l| l.starts_with(long)).unwrap_or_else(|| panic!("{out}"));
    assert!(row.split_whitespace().nth(1) == Some("1"), "whole name, then its 1 call: {row}");
    let header = out.lines().find(|l| l.starts_with("METHOD")).unwrap();
    let calls_end = header.find("CALLS").unwrap() + "CALLS".len() - 1;
    assert_eq!(row.chars().nth(calls_end), Some('1'), "the columns still line up:\n{header}\n{row}");
}

/// `-t` reaches every command that prints times, as tshark's formats.
#[test]
fn time_formats_reach_every_command() {
    let p = fixture("deadline.pcap");
    let path = p.to_str().unwrap();
    let run = |args: &[&str]| {
        let (code, out, err) = grpcscope(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    // The first call starts 756us after the capture's first packet (the SYN).
    let calls = run(&["calls", "-t", "r", path]);
    assert!(calls.lines().nth(1).unwrap().starts_with("    1 0.000756 "), "{calls}");
    let calls = run(&["calls", "-t", "ud", path]);
    assert!(calls.contains("    1 2026-11-24 18:24:01.610179"), "{calls}");
    let calls = run(&["calls", "-t", "e", path]);
    assert!(calls.contains("    2 1795544641.711069"), "{calls}");
    let conns = run(&["conns", "-t", "ud", path]);
    assert!(conns.contains("2026-11-24 18:24:01.609423"), "{conns}");
    let stats = run(&["stats", "-t", "r", path]);
    assert!(stats.contains("calls from 0.000756 to "), "{stats}");
    let explain = run(&["explain", "-t", "ud", path]);
    assert!(explain.contains("  1. 2026-11-24 18:24:01.609423 (+0ns)  C->S  TCP SYN"), "{explain}");
    let (code, _, err) = grpcscope(&["calls", "-t", "x", path]);
    assert_eq!(code, 2);
    assert!(err.contains("one of a, ad, adoy, d, dd, e, r, u, ud, udoy"), "{err}");
}
