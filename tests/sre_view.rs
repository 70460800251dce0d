//! Issue 5: connections, channels, reconnects, statistics, cross-hop
//! failures and the filter language, on fixtures and the shared corpus.
mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn run_json(args: &[&str]) -> Vec<Value> {
    let (code, out, err) = grpcscope(args);
    assert_eq!(code, 0, "{err}");
    json_lines(&out)
}

#[test]
fn reconnects_in_our_fixture() {
    let rows = run_json(&["conns", "--format", "json", fixture("reconnect.pcap").to_str().unwrap()]);
    let reconnect_of: Vec<Option<u64>> = rows.iter().map(|r| r["reconnect_of"].as_u64()).collect();
    assert_eq!(reconnect_of, [None, Some(1), Some(1), Some(3), Some(3)]);
    let established_reconnects =
        rows.iter().filter(|r| r["established"] == true && !r["reconnect_of"].is_null()).count();
    assert_eq!(established_reconnects, 2);
    let first = &rows[0];
    assert!(
        first["why_ended"].as_str().unwrap().starts_with("server sent GOAWAY (NO_ERROR, last stream 5)"),
        "{}",
        first["why_ended"]
    );
    assert!(rows[2]["previous_end"].as_str().unwrap().contains("GOAWAY"));
    assert!(rows[2]["reconnect_gap_ms"].as_f64().unwrap() > 50.0);
    assert_eq!(first["calls"]["total"], 3);
    assert_eq!(first["protocol"], "http2");
    let steps: Vec<&str> = first["ladder"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps[..3], ["SYN (client)", "SYN-ACK (server)", "ACK (client): TCP established"]);
    // The rest in time order, which varies: servers may speak before the preface arrives.
    for step in [
        "HTTP/2 client preface",
        "SETTINGS (client)",
        "SETTINGS (server)",
        "SETTINGS ACK (client)",
        "SETTINGS ACK (server)",
    ] {
        assert!(steps.contains(&step), "{step} missing from {steps:?}");
    }
    assert_eq!(first["h2"]["server_settings"][0]["params"]["INITIAL_WINDOW_SIZE"], 1_048_576);
    assert!(first["h2"]["goaways"].as_array().unwrap().iter().any(|g| g["from"] == "server"));
    let (_, text, _) = grpcscope(&["conns", fixture("reconnect.pcap").to_str().unwrap()]);
    assert!(
        text.starts_with(
            "channel 127.0.0.1 -> 127.0.0.1:50066: 5 connection(s), 3 established, 2 reconnect(s), 2 failed attempt(s)"
        ),
        "{text}"
    );
    assert!(text.contains("reconnect 25") && text.contains("ms after conn 1 ended"), "{text}");
}

#[test]
fn shared_reconnect_counts_and_stats_totals_match_the_truth() {
    let Some(dir) = shared_captures("shared_reconnect_counts_and_stats_totals_match_the_truth") else { return };
    for (name, path) in shared_scenarios(&dir) {
        let meta = meta(&dir, &name);
        let rows = run_json(&["conns", "--format", "json", path.to_str().unwrap()]);
        let established = rows.iter().filter(|r| r["established"] == true).count() as u64;
        assert_eq!(established, meta["tcp_connections"].as_u64().unwrap(), "{name}");
        let reconnects =
            rows.iter().filter(|r| r["established"] == true && !r["reconnect_of"].is_null()).count() as u64;
        assert_eq!(reconnects, meta["reconnects"].as_u64().unwrap_or(0), "{name}: reconnects");
        let stats = run_json(&["stats", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(stats[0]["section"], "summary");
        let calls = stats[0]["calls"].as_u64().unwrap();
        let keys_inside = path.extension().is_some_and(|e| e == "pcapng") && meta["pcapng_with_secrets"].is_string();
        if meta["tls"] == true && !keys_inside {
            // Encrypted, and no key log given: no call can be shown.
            assert_eq!(calls, 0, "{name}: calls of an encrypted connection without keys");
        } else if meta["tls"] == true {
            // The pcapng carries its keys: every call of the truth.
            assert_eq!(
                calls,
                meta["calls_in_truth"].as_u64().unwrap(),
                "{name}: calls decrypted with the pcapng's keys"
            );
        } else if meta["handshake_captured"] == false {
            // Cut inside a connection: the calls in flight at the cut are in
            // the capture in part (the truth marks them optional), so the
            // count lies between the required calls and all of the truth's.
            let truth = std::fs::read_to_string(dir.join(format!("{name}.truth.jsonl"))).unwrap();
            let all = truth.lines().count() as u64;
            let required = meta["calls_in_truth"].as_u64().unwrap();
            assert!((required..=all).contains(&calls), "{name}: {calls} calls, outside {required}..={all}");
        } else {
            assert_eq!(Some(calls), meta["calls_in_truth"].as_u64(), "{name}: stats total calls");
        }
    }
}

#[test]
fn a_proxy_in_the_middle_names_the_failing_hop() {
    let path = fixture("proxy.pcap");
    let calls = run_json(&["calls", "--format", "json", path.to_str().unwrap()]);
    let by_rid = |rid: &str| -> Vec<&Value> {
        calls
            .iter()
            .filter(|c| c["request_headers"].as_array().unwrap().iter().any(|h| h[0] == "x-request-id" && h[1] == rid))
            .collect()
    };
    let timeout = by_rid("rid-timeout");
    assert_eq!(timeout.len(), 2, "both legs");
    assert_eq!(
        (timeout[0]["http_status"].as_u64(), timeout[0]["error_origin"].as_str()),
        (Some(504), Some("transport"))
    );
    assert_eq!(timeout[0]["transport_error"]["implied_status_name"], "UNAVAILABLE");
    assert!(timeout[0]["responses"].as_array().unwrap().is_empty(), "the HTML error page is not a gRPC message");
    assert!(timeout[0]["response_body"]["excerpt"].as_str().unwrap().contains("504 Gateway Time-out"));
    assert_eq!(timeout[1]["transport_error"]["kind"], "connection_closed");
    let down = by_rid("rid-down");
    assert_eq!((down.len(), down[0]["http_status"].as_u64()), (1, Some(502)));

    let stats = run_json(&["stats", "--format", "json", path.to_str().unwrap()]);
    let hops: Vec<&Value> = stats.iter().filter(|r| r["section"] == "hop").collect();
    let find = |rid: &str| hops.iter().find(|h| h["paired_by"] == format!("x-request-id {rid}")).copied().unwrap();
    let t = find("rid-timeout");
    assert_eq!(t["failed_first"], 1, "the upstream hop failed: the proxy gave up on it");
    assert_eq!(t["legs"][1]["server"], "127.0.0.1:50081");
    assert!(t["summary"].as_str().unwrap().contains("gave up on it"));
    let nf = find("rid-notfound");
    assert_eq!((nf["failed_first"].as_u64(), nf["legs"][1]["origin"].as_str()), (Some(1), Some("application")));
    let d = find("rid-down");
    assert_eq!(d["refused_upstream"]["server"], "127.0.0.1:50081");
    assert!(d["summary"]
        .as_str()
        .unwrap()
        .contains("could not reach its upstream 127.0.0.1:50081: connection refused"));
    assert!(hops.iter().all(|h| h["paired_by"] != "x-request-id rid-ok"), "only failed calls are reported");

    // Each report's cause class, and the frames that show it.
    let causes: Vec<(&str, &str)> = ["rid-notfound", "rid-timeout", "rid-deadline", "rid-down"]
        .iter()
        .map(|rid| (*rid, find(rid)["cause"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            ("rid-notfound", "application"),
            ("rid-timeout", "upstream_timeout"),
            ("rid-deadline", "client_deadline"),
            ("rid-down", "upstream_refused")
        ]
    );
    // The client's 100 ms deadline, forwarded as grpc-timeout: the server
    // behind nginx gave up with CANCELLED "Timeout expired", which is not
    // the application failing first.
    let dl = find("rid-deadline");
    assert_eq!(dl["failed_first"], 0);
    assert_eq!(dl["legs"][0]["deadline_nanos"], 100_000_000);
    assert_eq!(dl["legs"][1]["status"], "CANCELLED");
    assert!(dl["summary"].as_str().unwrap().starts_with("hop 1's client 127.0.0.1:"), "{dl:#?}");
    assert!(dl["summary"].as_str().unwrap().contains("set a 100.0ms deadline (grpc-timeout) and it expired"));
    let frames = run_json(&["frames", "--format", "json", path.to_str().unwrap()]);
    for h in &hops {
        let packets: Vec<u64> = h["packets"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
        assert_eq!(packets.len(), h["legs"].as_array().unwrap().len(), "{h:#?}");
        for (leg, p) in h["legs"].as_array().unwrap().iter().zip(&packets) {
            let on_leg = frames.iter().any(|f| f["packet"] == *p && f["conn"] == leg["conn"] && f["type"] == "HEADERS");
            assert!(on_leg, "packet {p} holds a header block of conn {}", leg["conn"]);
        }
    }
}

/// nginx as an ingress: the client sends no request id and nginx adds one
/// on the upstream leg only; the legs still pair, by method and request.
#[test]
fn an_id_added_on_the_upstream_leg_only_still_pairs_the_legs() {
    let path = fixture("ingress.pcap");
    let calls = run_json(&["calls", "--format", "json", path.to_str().unwrap()]);
    let has_id = |c: &Value| c["request_headers"].as_array().unwrap().iter().any(|h| h[0] == "x-request-id");
    let upstream: Vec<&Value> = calls.iter().filter(|c| c["conn"]["server"] == "127.0.0.1:50083").collect();
    assert_eq!(upstream.len(), 3);
    assert!(upstream.iter().all(|c| has_id(c)), "nginx added x-request-id upstream");
    assert!(
        calls.iter().filter(|c| c["conn"]["server"] == "127.0.0.1:50082").all(|c| !has_id(c)),
        "the client sent none"
    );

    let stats = run_json(&["stats", "--format", "json", path.to_str().unwrap()]);
    let hops: Vec<&Value> = stats.iter().filter(|r| r["section"] == "hop").collect();
    assert_eq!(hops.len(), 2, "NOT_FOUND and the 504, each with both legs: {hops:#?}");
    for h in &hops {
        let by = h["paired_by"].as_str().unwrap();
        assert!(by.starts_with("method+request (x-request-id ") && by.ends_with(" on the upstream leg only)"), "{by}");
        assert_eq!(h["legs"].as_array().unwrap().len(), 2);
        assert_eq!(
            (h["legs"][0]["server"].as_str(), h["legs"][1]["server"].as_str()),
            (Some("127.0.0.1:50082"), Some("127.0.0.1:50083"))
        );
        assert_eq!(h["failed_first"], 1);
    }
    let causes: BTreeSet<&str> = hops.iter().map(|h| h["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, BTreeSet::from(["application", "upstream_timeout"]));
    let timeout = hops.iter().find(|h| h["legs"][0]["status"] == "UNAVAILABLE").unwrap();
    assert!(timeout["summary"].as_str().unwrap().contains("(the proxy) gave up on it"), "{timeout:#?}");
}

#[test]
fn stats_tables_keep_names_whole_in_a_pipe_and_every_breakdown_works() {
    let path = fixture("errors.pcap");
    for by in ["method", "server", "edge", "conn"] {
        let (code, out, err) = grpcscope(&["stats", "--by", by, path.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        // Issue 22: a pipe gets every name whole; the figures beside it take 56 columns.
        assert!(!out.contains('…'), "--by {by}: nothing is cut in a pipe:\n{out}");
        let header = out.lines().find(|l| l.ends_with(" MAX")).unwrap_or_else(|| panic!("{out}"));
        let name_width = header.chars().count() - 57;
        for line in out.lines().skip_while(|l| *l != header).take_while(|l| !l.is_empty()) {
            assert_eq!(line.chars().count(), name_width + 57, "--by {by}: {line:?} lines up with the header");
        }
        assert!(out.contains("7 calls: 0 ok, 7 application errors, 0 transport errors"), "{out}");
    }
    let rows = run_json(&["stats", "--format", "json", "--by", "edge", path.to_str().unwrap()]);
    let edge = rows.iter().find(|r| r["section"] == "edge").unwrap();
    assert_eq!((edge["client"].as_str(), edge["server"].as_str()), (Some("127.0.0.1"), Some("127.0.0.1:50063")));
    assert_eq!(edge["errors"]["NOT_FOUND"], 1);
    assert!(edge["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    let lat = &rows.iter().find(|r| r["section"] == "summary").unwrap()["latency_ms"];
    assert!(
        lat["min"].as_f64() <= lat["p50"].as_f64()
            && lat["p50"].as_f64() <= lat["p99"].as_f64()
            && lat["p99"].as_f64() <= lat["max"].as_f64()
    );
    assert!(rows.iter().any(|r| r["section"] == "timeline" && r["application_errors"].as_u64() == Some(7)));
}

#[test]
fn one_filter_language_for_every_command() {
    let errors = fixture("errors.pcap");
    let proxy = fixture("proxy.pcap");
    let count = |args: &[&str]| run_json(args).len();
    assert_eq!(count(&["calls", "--format", "json", "--filter", "status != OK", errors.to_str().unwrap()]), 7);
    assert_eq!(count(&["calls", "--format", "json", "-Y", "status == NOT_FOUND", errors.to_str().unwrap()]), 1);
    assert_eq!(count(&["calls", "--format", "json", "--filter", "origin == transport", proxy.to_str().unwrap()]), 4);
    assert_eq!(
        count(&["calls", "--format", "json", "--filter", "duration > 200ms && conn == 1", proxy.to_str().unwrap()]),
        1
    );
    assert_eq!(
        count(&[
            "calls",
            "--format",
            "json",
            "--filter",
            "header[\"x-request-id\"] == \"rid-ok\"",
            proxy.to_str().unwrap()
        ]),
        2
    );
    assert_eq!(
        count(&["calls", "--format", "json", "--filter", "method ~ \"Discontinue$\"", errors.to_str().unwrap()]),
        1
    );
    assert_eq!(
        count(&[
            "frames",
            "--format",
            "json",
            "--filter",
            "type == RST_STREAM",
            fixture("deadline.pcap").to_str().unwrap()
        ]),
        1
    );
    assert_eq!(
        count(&[
            "conns",
            "--format",
            "json",
            "--filter",
            "calls > 0 and established",
            fixture("reconnect.pcap").to_str().unwrap()
        ]),
        3
    );
    let stats = run_json(&["stats", "--format", "json", "--filter", "origin == application", proxy.to_str().unwrap()]);
    assert_eq!(stats[0]["calls"], 3);

    let (code, out, err) = grpcscope(&["calls", "--filter", "status != OK)", errors.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("unexpected `)` with no `(` before it at column 13")
            && err.contains("  status != OK)\n")
            && err.trim_end().ends_with('^'),
        "{err}"
    );
    let (code, _, err) = grpcscope(&["frames", "--filter", "method == x", errors.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `method`") && err.contains("for frames"), "{err}");
}
