//! `calls -w OUT.pcap --filter EXPR` on a capture file: the extract holds
//! every matching call, each decodes in it exactly as in the original (in
//! grpcscope and in tshark), and no call is there by halves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// `calls --format json` of `pcap`, keyed by (server, stream id, start).
fn calls(pcap: &Path, protos: &Path, filter: Option<&str>) -> BTreeMap<(String, u64, String), Value> {
    let mut args = vec!["calls", "-q", "--format", "json", "--proto-path", protos.to_str().unwrap()];
    if let Some(f) = filter {
        args.extend(["--filter", f]);
    }
    args.push(pcap.to_str().unwrap());
    let (code, out, err) = grpcscope(&args);
    assert_eq!(code, 0, "{err}");
    json_lines(&out)
        .into_iter()
        .map(|mut c| {
            // Connection numbers are the extract's own; the rest must agree.
            let key = (
                c["conn"]["server"].as_str().unwrap().to_string(),
                c["stream_id"].as_u64().unwrap(),
                c["start"].to_string(),
            );
            c["conn"]["id"] = Value::Null;
            (key, c)
        })
        .collect()
}

/// tshark's gRPC message lengths by (server port, stream), for the streams of `keys`.
fn tshark_messages(pcap: &Path, ports: &[u16]) -> BTreeMap<(String, String), Vec<String>> {
    let mut args: Vec<String> = vec!["-r".into(), pcap.to_str().unwrap().into()];
    for p in ports {
        args.extend(["-d".into(), format!("tcp.port=={p},http2")]);
    }
    args.extend(
        ["-Y", "grpc", "-T", "fields", "-e", "tcp.port", "-e", "http2.streamid", "-e", "grpc.message_length"]
            .map(String::from),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in tshark(&refs).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() == 3 && !f[2].is_empty() {
            let stream = f[1].split(',').next().unwrap_or_default().to_string();
            out.entry((f[0].to_string(), stream)).or_default().push(f[2].to_string());
        }
    }
    out
}

/// Extracts `filter` from `pcap` with `scope`, and checks the extract.
fn check(pcap: &Path, protos: &Path, filter: &str, scope: &str, ports: &[u16], tshark_too: bool) -> usize {
    let name = format!("{}-{scope}", pcap.file_stem().unwrap().to_string_lossy());
    let out = scratch_dir(&format!("extract-{name}")).join(format!("{name}.pcap"));
    let args = [
        "calls",
        "--proto-path",
        protos.to_str().unwrap(),
        "--filter",
        filter,
        "-w",
        out.to_str().unwrap(),
        "--write-scope",
        scope,
        pcap.to_str().unwrap(),
    ];
    let (code, _, err) = grpcscope(&args);
    assert_eq!(code, 0, "{pcap:?} {filter}: {err}");
    assert!(err.contains("packets written to"), "{err}");
    let (original, matching, extract) =
        (calls(pcap, protos, None), calls(pcap, protos, Some(filter)), calls(&out, protos, None));
    assert!(!matching.is_empty(), "{pcap:?}: {filter} matches nothing");
    for key in matching.keys() {
        assert!(extract.contains_key(key), "{pcap:?} {filter}: {key:?} is not in the extract");
    }
    for (key, call) in &extract {
        assert_eq!(Some(call), original.get(key), "{pcap:?} {filter}: {key:?} decodes differently in the extract");
    }
    if tshark_too {
        // tshark sees no hole, and the same messages on every stream it decodes.
        let holes =
            tshark(&["-r", out.to_str().unwrap(), "-Y", "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment"]);
        assert!(holes.trim().is_empty(), "{pcap:?}: tshark sees holes in the extract:\n{holes}");
        let (all, ext) = (tshark_messages(pcap, ports), tshark_messages(&out, ports));
        assert!(!ext.is_empty());
        for (stream, lengths) in &ext {
            assert_eq!(Some(lengths), all.get(stream), "{pcap:?}: tshark's messages of {stream:?}");
        }
    }
    extract.len()
}

#[test]
fn extracts_of_the_shared_corpus_decode_alone_in_grpcscope_and_tshark() {
    let test = "extracts_of_the_shared_corpus_decode_alone_in_grpcscope_and_tshark";
    let Some(dir) = shared_captures(test) else { return };
    let tshark_too = have_tshark(test);
    let protos = dir.join("protos");
    let port = |s: &str| meta(&dir, s)["server_port"].as_u64().unwrap() as u16;
    // One of 240 interleaved calls: far fewer packets, every call whole.
    let n = check(
        &dir.join("concurrent_multiplex.pcap"),
        &protos,
        "stream_id == 101",
        "call",
        &[port("concurrent_multiplex")],
        tshark_too,
    );
    assert!(n < 240, "{n} calls");
    check(&dir.join("unary_errors.pcap"), &protos, "status == NOT_FOUND", "call", &[port("unary_errors")], tshark_too);
    check(&dir.join("ipv6.pcap"), &protos, "stream_id == 21", "call", &[port("ipv6")], tshark_too);
    // Whole connections: each connection's first call brings its connection.
    let n = check(&dir.join("reconnect.pcap"), &protos, "stream_id == 1", "conn", &[port("reconnect")], tshark_too);
    assert_eq!(n, 99, "the three connections whole");
    check(
        &dir.join("server_streaming.pcap"),
        &protos,
        "method ~ \"List\"",
        "call",
        &[port("server_streaming")],
        tshark_too,
    );
}

#[test]
fn a_proxy_extract_keeps_both_legs_of_the_failed_requests() {
    let test = "a_proxy_extract_keeps_both_legs_of_the_failed_requests";
    let tshark_too = have_tshark(test);
    let n = check(
        &fixture("proxy.pcap"),
        &root().join("protos"),
        "header[\"x-request-id\"] == \"rid-timeout\"",
        "call",
        &[50080, 50081],
        tshark_too,
    );
    // The client's leg and nginx's, and the earlier calls on the client's
    // connection whose header blocks indexed the entries they read: not all 9.
    assert!((2..9).contains(&n), "{n} calls");
}

#[test]
fn extracts_need_a_file_and_calls() {
    let pcap = fixture("unary.pcap");
    let (code, _, err) = grpcscope(&["stats", "-w", "/tmp/x.pcap", pcap.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("-w on a capture file writes an extract of calls: use it with `grpcscope calls`"), "{err}");
    let out = scratch_dir("extract-none").join("none.pcap");
    let (code, _, err) =
        grpcscope(&["calls", "--filter", "status == DATA_LOSS", "-w", out.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no call matched"), "{err}");
    assert!(!out.exists());
}
