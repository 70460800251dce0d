//! `calls --otlp`: spans exported over OTLP/HTTP and OTLP/gRPC to a
//! receiver built from the official opentelemetry-proto definitions
//! (tests/ecosystem/otlp_receiver.py), which checks every attribute against
//! docs/otel.md; the spans are compared with `calls --format json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::otlp::Receiver;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn export(pcap: &Path, url: &str, protocol: &str, protos: &Path) -> String {
    let args = [
        "calls",
        "--otlp",
        url,
        "--otlp-protocol",
        protocol,
        "--proto-path",
        protos.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ];
    let (code, _, err) = grpcscope(&args);
    assert_eq!(code, 0, "{pcap:?} {protocol}: {err}");
    err
}

/// `attributes[name]` of a span.
fn attr<'a>(span: &'a Value, name: &str) -> &'a Value {
    &span["attributes"][name]
}

#[test]
fn every_call_of_the_corpus_arrives_as_a_span_over_both_protocols() {
    let test = "every_call_of_the_corpus_arrives_as_a_span_over_both_protocols";
    let Some(dir) = shared_captures(test) else { return };
    let Some(rx) = Receiver::start(test, &[]) else { return };
    let protos = dir.join("protos");
    let scenarios: Vec<(String, PathBuf)> = shared_scenarios(&dir)
        .into_iter()
        .filter(|(n, p)| n != "tls_keylog" || p.extension().is_some_and(|e| e == "pcapng"))
        .collect();
    let mut want: Vec<(String, Value)> = Vec::new();
    for (i, (name, pcap)) in scenarios.iter().enumerate() {
        // Half the captures over each protocol.
        let (url, protocol) = if i % 2 == 0 {
            (format!("http://127.0.0.1:{}", rx.http), "http/protobuf")
        } else {
            (format!("http://127.0.0.1:{}", rx.grpc), "grpc")
        };
        let err = export(pcap, &url, protocol, &protos);
        let (_, json, _) =
            grpcscope(&["calls", "--format", "json", "--proto-path", protos.to_str().unwrap(), pcap.to_str().unwrap()]);
        let calls = json_lines(&json);
        assert!(err.contains(&format!("grpcscope: {} span(s) exported to {url}", calls.len())), "{name}: {err}");
        want.extend(calls.into_iter().map(|c| (pcap.display().to_string(), c)));
    }
    let (spans, summary) = rx.stop();
    assert_eq!(spans.len(), want.len());
    assert!(spans.iter().any(|s| s["via"] == "grpc") && spans.iter().any(|s| s["via"] == "http"));
    // Each call's span: found by capture, connection and stream.
    for (capture, call) in &want {
        let span = spans
            .iter()
            .find(|s| {
                attr(s, "grpcscope.capture") == capture.as_str()
                    && attr(s, "grpcscope.connection.id") == &call["conn"]["id"]
                    && attr(s, "grpcscope.stream.id") == &call["stream_id"]
            })
            .unwrap_or_else(|| panic!("no span for {capture} {call}"));
        let method = call["method"].as_str().map(|m| m.trim_start_matches('/'));
        assert_eq!(attr(span, "rpc.method").as_str(), method, "{capture} {call}");
        assert_eq!(attr(span, "grpcscope.error.origin"), &call["error_origin"]);
        if let Some(status) = call["grpc_status_name"].as_str() {
            assert_eq!(attr(span, "rpc.response.status_code"), status);
        }
        let server = call["conn"]["server"].as_str().unwrap();
        assert_eq!(attr(span, "grpcscope.hop").as_str().unwrap().rsplit(" -> ").next(), Some(server));
        let start = (call["start"].as_f64().unwrap() * 1e6).round() as i64;
        assert_eq!(span["start"].as_i64().unwrap() / 1000, start, "{capture} {call}");
    }
    assert!(summary["requests"].as_u64().unwrap() >= scenarios.len() as u64);
}

#[test]
fn traced_calls_join_their_traces_and_the_rest_start_their_own() {
    let test = "traced_calls_join_their_traces_and_the_rest_start_their_own";
    let Some(rx) = Receiver::start(test, &[]) else { return };
    let pcap = fixture("traced.pcap");
    export(&pcap, &format!("http://127.0.0.1:{}", rx.grpc), "grpc", &root().join("protos"));
    // The same capture twice: the same ids.
    export(&pcap, &format!("http://127.0.0.1:{}", rx.http), "http/protobuf", &root().join("protos"));
    let (spans, _) = rx.stop();
    assert_eq!(spans.len(), 12);
    let (grpc, http): (Vec<&Value>, Vec<&Value>) = spans.iter().partition(|s| s["via"] == "grpc");
    let ids = |v: &[&Value]| {
        let mut ids: Vec<(String, String)> =
            v.iter().map(|s| (s["trace_id"].as_str().unwrap().into(), s["span_id"].as_str().unwrap().into())).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&grpc), ids(&http), "exporting twice sends the same spans");
    let by_stream = |n: i64| grpc.iter().find(|s| attr(s, "grpcscope.stream.id") == n).unwrap();
    let joined = [
        (1, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "traceparent"),
        (3, "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", "b3"),
        (5, "0000000000000000a3ce929d0e0e4736", "05e3ac9a4f6e3b90", "b3_multi"),
        (11, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "traceparent"),
    ];
    for (stream, trace, parent, source) in joined {
        let s = by_stream(stream);
        assert_eq!(
            (s["trace_id"].as_str(), s["parent_span_id"].as_str()),
            (Some(trace), Some(parent)),
            "stream {stream}"
        );
        assert_eq!(attr(s, "grpcscope.trace.source"), source);
        assert_ne!(s["span_id"], parent, "a span of its own, child of the caller's");
    }
    // A malformed traceparent (zero parent id) and none: traces of their own.
    for stream in [7, 9] {
        let s = by_stream(stream);
        assert_eq!(s["parent_span_id"], "", "stream {stream}");
        assert_ne!(s["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(s["attributes"].get("grpcscope.trace.source").is_none());
    }
    let failed = by_stream(11);
    assert_eq!(attr(failed, "rpc.response.status_code"), "NOT_FOUND");
    assert_eq!(attr(failed, "error.type"), "NOT_FOUND");
    assert_eq!(attr(failed, "grpcscope.error.origin"), "application");
    assert_eq!(
        (failed["status"].as_i64(), failed["status_message"].as_str()),
        (Some(2), Some("part missing-traced not found"))
    );
    assert_eq!(failed["name"], "grpcscope.fixtures.v1.Inventory/GetPart");
    assert_eq!(attr(by_stream(1), "server.port"), 50106);
}

#[test]
fn a_collector_that_answers_503_gets_the_spans_again() {
    let test = "a_collector_that_answers_503_gets_the_spans_again";
    let Some(rx) = Receiver::start(test, &["--fail-first", "2"]) else { return };
    let err = export(
        &fixture("traced.pcap"),
        &format!("http://127.0.0.1:{}", rx.http),
        "http/protobuf",
        &root().join("protos"),
    );
    assert!(
        err.contains("6 span(s) exported to")
            && err.contains("in 3 request(s); 0 rejected by the collector, 0 not delivered"),
        "{err}"
    );
    let (spans, summary) = rx.stop();
    assert_eq!((spans.len(), summary["requests"].as_u64()), (6, Some(3)));
}

#[test]
fn spans_that_cannot_be_delivered_fail_the_command() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = grpcscope(&["calls", "-q", "--otlp", &url, fixture("unary.pcap").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("--otlp {url}: 6 span(s) not delivered")), "{err}");
    let (code, _, err) =
        grpcscope(&["calls", "--otlp", "https://collector:4318", fixture("unary.pcap").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("clear text only"), "{err}");
}
