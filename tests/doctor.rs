//! Issue 20: `grpcscope doctor` finds on each fixture what its scenario
//! did, and nothing on the clean ones.
mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The summary row and the findings.
fn doctor(args: &[&str]) -> (Value, Vec<Value>) {
    let mut argv = vec!["doctor", "--format", "json"];
    argv.extend_from_slice(args);
    let (code, out, err) = grpcscope(&argv);
    assert_eq!(code, 0, "{err}");
    let rows = json_lines(&out);
    let summary = rows.first().cloned().expect("a summary row");
    assert_eq!(summary["section"], "summary");
    (summary, rows.into_iter().skip(1).collect())
}

/// `severity:rule` of each finding.
fn rules(findings: &[Value]) -> BTreeSet<String> {
    findings.iter().map(|f| format!("{}:{}", f["severity"].as_str().unwrap(), f["rule"].as_str().unwrap())).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn finding<'a>(findings: &'a [Value], rule: &str) -> &'a Value {
    findings.iter().find(|f| f["rule"] == rule).unwrap_or_else(|| panic!("no {rule} in {findings:#?}"))
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
}

#[test]
fn clean_fixtures_have_no_findings() {
    for name in ["unary", "streaming", "compression", "metadata", "reflection", "cancel", "bench_seed"] {
        let path = fixture(&format!("{name}.pcap"));
        let (summary, findings) = doctor(&[path.to_str().unwrap()]);
        assert!(findings.is_empty(), "{name}: {findings:#?}");
        assert!(summary["calls"].as_u64().unwrap() > 0, "{name}");
    }
    for name in ["tls13", "tls12"] {
        let keys = fixture(&format!("{name}.keys"));
        let path = fixture(&format!("{name}.pcap"));
        let (_, findings) = doctor(&["--tls-keylog", keys.to_str().unwrap(), path.to_str().unwrap()]);
        assert!(findings.is_empty(), "{name}: {findings:#?}");
    }
}

#[test]
fn a_proxys_timeout_and_its_missing_upstream_are_named_with_their_legs() {
    let (summary, findings) = doctor(&[fixture("proxy.pcap").to_str().unwrap()]);
    assert_eq!(summary["calls"], 9);
    assert_eq!(
        rules(&findings),
        set(&["error:proxy_timeout", "error:upstream_unavailable", "error:deadline_exceeded"])
    );

    // nginx answered 504 after its 300 ms grpc_read_timeout; the upstream
    // leg on another connection shows it giving up first.
    let timeout = finding(&findings, "proxy_timeout");
    let title = timeout["title"].as_str().unwrap();
    let ms: f64 = title.rsplit("after ").next().unwrap().trim_end_matches("ms").parse().unwrap();
    assert!((295.0..330.0).contains(&ms), "{title}");
    assert!(timeout["explanation"].as_str().unwrap().contains("HTTP 504"));
    assert!(timeout["explanation"].as_str().unwrap().contains("cluster at about"));
    assert_eq!(timeout["inference"], true);
    let conns = ids(&timeout["evidence"]["conns"]);
    assert_eq!(conns.len(), 2, "the client's leg and the upstream leg: {conns:?}");
    let call = &timeout["evidence"]["calls"][0];
    assert_eq!((call["conn"].as_u64(), call["stream"].as_u64()), (Some(conns[0]), Some(5)));
    assert!(timeout["evidence"]["packets"][0].as_u64().unwrap() > 0);

    // The upstream was down: nginx's connect was refused, it answered 502.
    let down = finding(&findings, "upstream_unavailable");
    assert!(down["explanation"].as_str().unwrap().contains("refused"), "{down:#?}");
    assert_eq!(down["evidence"]["calls"][0]["stream"], 9);
    assert_eq!(ids(&down["evidence"]["conns"]).len(), 2);

    // The call numbers are the ones `calls` lists and `explain --call` takes.
    let (_, out, _) = grpcscope(&["calls", "--format", "json", fixture("proxy.pcap").to_str().unwrap()]);
    let calls = json_lines(&out);
    let n = call["call"].as_u64().unwrap() as usize;
    assert_eq!((calls[n - 1]["conn"]["id"].as_u64(), calls[n - 1]["stream_id"].as_u64()), (Some(conns[0]), Some(5)));
}

#[test]
fn a_deadline_is_compared_with_what_the_method_takes() {
    let (_, findings) = doctor(&[fixture("deadline.pcap").to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["error:deadline_exceeded"]));
    let f = finding(&findings, "deadline_exceeded");
    let why = f["explanation"].as_str().unwrap();
    assert!(why.contains("grpc-timeout) was 100.0ms"), "{why}");
    assert!(why.contains("the client reset (RST_STREAM) every one"), "{why}");
    assert!(why.contains("slower than usual"), "{why}");
    assert_eq!(f["evidence"]["count"], 1);
}

#[test]
fn restarts_are_churn_and_refused_attempts_are_told_once() {
    let (_, findings) = doctor(&[fixture("reconnect.pcap").to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["error:connect_failed", "warning:connection_churn"]));
    let refused = finding(&findings, "connect_failed");
    assert_eq!(refused["evidence"]["count"], 2);
    assert_eq!(ids(&refused["evidence"]["conns"]), [2, 4]);
    let churn = finding(&findings, "connection_churn");
    assert_eq!(churn["evidence"]["count"], 2);
    assert!(churn["explanation"].as_str().unwrap().contains("server sent GOAWAY (NO_ERROR"));
    assert!(!churn["evidence"]["packets"].as_array().unwrap().is_empty(), "the GOAWAY frames' packets");
}

#[test]
fn failed_tls_handshakes_are_grouped_by_cause_with_and_without_keys() {
    let pcap = fixture("tls_failures.pcap");
    let keys = fixture("tls_failures.keys");
    let (_, findings) = doctor(&["--tls-keylog", keys.to_str().unwrap(), pcap.to_str().unwrap()]);
    let titles: BTreeSet<&str> = findings.iter().map(|f| f["title"].as_str().unwrap()).collect();
    assert_eq!(rules(&findings), set(&["error:tls_handshake_failed"]), "{titles:#?}");
    assert_eq!(findings.len(), 3, "{titles:#?}");
    for cause in ["unknown_ca", "certificate_required", "certificate_expired"] {
        assert!(titles.iter().any(|t| t.ends_with(cause)), "{cause}: {titles:#?}");
    }
    let required = findings.iter().find(|f| f["title"].as_str().unwrap().ends_with("certificate_required")).unwrap();
    assert!(required["advice"].as_str().unwrap().contains("client certificate"));
    assert_eq!(required["inference"], false);

    // Without keys TLS 1.3's alerts are encrypted: the doctor still names
    // the failures, marked as inferred where no alert was readable.
    let (_, findings) = doctor(&[pcap.to_str().unwrap()]);
    assert!(rules(&findings).contains("error:tls_handshake_failed"), "{findings:#?}");
    assert!(findings.iter().any(|f| f["inference"] == true), "{findings:#?}");
}

#[test]
fn unimplemented_and_lost_statuses_are_findings() {
    let (_, findings) = doctor(&[fixture("errors.pcap").to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["error:unimplemented"]));
    assert!(finding(&findings, "unimplemented")["title"].as_str().unwrap().contains("Inventory/Discontinue"));

    // Joined mid-connection: the statuses refer to HPACK entries never seen,
    // so "no errors" is not claimed.
    let (_, findings) = doctor(&[fixture("mid_connection.pcap").to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["info:status_lost"]));
    assert_eq!(finding(&findings, "status_lost")["evidence"]["count"], 6);
}

/// The frames of a capture, as `frames --format json` gives them.
fn frames(path: &Path) -> Vec<Value> {
    let (code, out, err) = grpcscope(&["frames", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    json_lines(&out)
}

#[test]
fn calls_queued_at_the_stream_limit_and_a_sender_at_a_zero_window_are_found() {
    let path = fixture("limits.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 10);
    assert_eq!(rules(&findings), set(&["warning:stream_limit", "warning:flow_control_stall"]));

    // Eight calls of 100 ms against a limit of 2: the first two get a
    // stream, the other six wait in the client, two by two.
    let limit = finding(&findings, "stream_limit");
    assert_eq!(limit["evidence"]["count"], 6);
    assert_eq!(ids(&limit["evidence"]["conns"]), [1]);
    let streams: Vec<u64> =
        limit["evidence"]["calls"].as_array().unwrap().iter().map(|c| c["stream"].as_u64().unwrap()).collect();
    assert_eq!(streams, [7, 9, 11, 13, 15, 17]);
    assert!(limit["explanation"].as_str().unwrap().contains("allows 2 concurrent streams"));
    assert_eq!(limit["inference"], true);
    // Each waiting stream's HEADERS is among the packets named.
    let packets = ids(&limit["evidence"]["packets"]);
    let all = frames(&path);
    for sid in [7u64, 9, 11, 13, 15, 17] {
        let opening = all
            .iter()
            .find(|f| f["conn"] == 1 && f["stream_id"] == sid && f["type"] == "HEADERS")
            .unwrap_or_else(|| panic!("no HEADERS for stream {sid}"));
        assert!(packets.contains(&opening["packet"].as_u64().unwrap()), "stream {sid}: {packets:?}");
    }

    // The client's 16 KiB stream window, read slowly: the server waits at
    // zero for each WINDOW_UPDATE. 300 messages read 4 ms apart.
    let stall = finding(&findings, "flow_control_stall");
    assert_eq!(ids(&stall["evidence"]["conns"]), [2]);
    assert_eq!(stall["evidence"]["calls"][0]["stream"], 1);
    assert!(stall["evidence"]["count"].as_u64().unwrap() >= 10, "{stall:#?}");
    let title = stall["title"].as_str().unwrap();
    assert!(title.starts_with("conn 2: the server waited "), "{title}");
    let waited: f64 = title["conn 2: the server waited ".len()..].split("ms").next().unwrap().parse().unwrap();
    assert!((300.0..1300.0).contains(&waited), "{title}");
    // The packets named are DATA that emptied the window and WINDOW_UPDATEs.
    for p in ids(&stall["evidence"]["packets"]).iter().take(4) {
        let kinds: Vec<&str> = all.iter().filter(|f| f["packet"] == *p).map(|f| f["type"].as_str().unwrap()).collect();
        assert!(kinds.iter().any(|k| *k == "DATA" || *k == "WINDOW_UPDATE"), "packet {p}: {kinds:?}");
    }
}

#[test]
fn a_proxy_timeout_is_found_when_only_the_upstream_leg_carries_an_id() {
    let (summary, findings) = doctor(&[fixture("ingress.pcap").to_str().unwrap()]);
    assert_eq!(summary["calls"], 6);
    assert_eq!(rules(&findings), set(&["error:proxy_timeout"]));
    let f = finding(&findings, "proxy_timeout");
    assert_eq!(ids(&f["evidence"]["conns"]), [1, 4], "the client's leg and the upstream leg");
    assert!(f["explanation"].as_str().unwrap().contains("The upstream leg (conn 4) shows the proxy giving up first"));
    assert!(f["title"]
        .as_str()
        .unwrap()
        .starts_with("the proxy 127.0.0.1:50082 timed out waiting for its upstream after 30"));
}

#[test]
fn a_real_client_resetting_every_stream_is_the_rapid_reset_pattern() {
    let (summary, findings) = doctor(&[fixture("rapid_reset.pcap").to_str().unwrap()]);
    assert_eq!(summary["calls"], 152);
    assert_eq!(rules(&findings), set(&["error:rapid_reset"]));
    let f = finding(&findings, "rapid_reset");
    assert_eq!(f["evidence"]["count"], 150);
    assert_eq!(f["title"], "conn 1: the client reset 150 of its 152 streams");
    assert_eq!(f["inference"], true);
}

/// The findings of `doctor` on a synthetic capture written as `name`.
fn doctor_on_synth(name: &str, bytes: Vec<u8>) -> Vec<Value> {
    let path = scratch_dir("doctor").join(name);
    std::fs::write(&path, bytes).unwrap();
    doctor(&[path.to_str().unwrap()]).1
}

#[test]
fn too_many_pings_and_rapid_reset_are_recognised() {
    let findings = doctor_on_synth("too_many_pings.pcap", grpcscope::synth::doctor::too_many_pings());
    assert_eq!(rules(&findings), set(&["error:too_many_pings"]), "{findings:#?}");
    let f = finding(&findings, "too_many_pings");
    assert!(f["explanation"].as_str().unwrap().contains("\"too_many_pings\""));
    assert!(f["advice"].as_str().unwrap().contains("keepalive"));
    assert_eq!(f["evidence"]["packets"].as_array().unwrap().len(), 1, "the GOAWAY's packet");

    let findings = doctor_on_synth("rapid_reset.pcap", grpcscope::synth::doctor::rapid_reset());
    let f = finding(&findings, "rapid_reset");
    assert_eq!(f["evidence"]["count"], u64::from(grpcscope::synth::doctor::RAPID_RESETS));
    assert_eq!(f["severity"], "error");
    let packets = f["evidence"]["packets"].as_array().unwrap().len();
    assert!((1..=10).contains(&packets), "the first resets' packets: {f:#?}");
}

/// ENHANCE_YOUR_CALM is read by its debug data: about resets it is the
/// server's rapid-reset defence (a fact, even below the pattern's count);
/// about anything else a goaway_error naming the words, never too_many_pings.
#[test]
fn a_calm_goaway_is_filed_by_what_its_debug_data_objects_to() {
    let findings = doctor_on_synth("too_many_resets.pcap", grpcscope::synth::doctor::too_many_resets());
    assert_eq!(rules(&findings), set(&["error:rapid_reset"]), "{findings:#?}");
    let f = finding(&findings, "rapid_reset");
    assert_eq!(
        f["title"],
        "conn 1: the server closed it for too many resets (GOAWAY ENHANCE_YOUR_CALM) after 20 from the client"
    );
    assert_eq!(f["evidence"]["count"], u64::from(grpcscope::synth::doctor::CALM_RESETS));
    assert_eq!(f["inference"], false, "the server said so");
    assert!(f["explanation"].as_str().unwrap().contains("(\"too_many_resets\")"), "{f:#?}");

    let findings = doctor_on_synth("calm_control.pcap", grpcscope::synth::doctor::calm_about_control_frames());
    assert_eq!(rules(&findings), set(&["warning:goaway_error"]), "{findings:#?}");
    let f = finding(&findings, "goaway_error");
    assert_eq!(
        f["title"],
        "GOAWAY ENHANCE_YOUR_CALM by the server (\"Maximum number 10000 of outstanding control frames reached\") on 1 connection(s)"
    );
}

#[test]
fn text_output_reads_as_findings_and_escapes_the_capture() {
    let (code, out, err) = grpcscope(&["doctor", fixture("deadline.pcap").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].ends_with("2 calls on 1 connection (23 packets): 1 finding (1 error, 0 warning, 0 info)"),
        "{out}"
    );
    assert!(lines[2].starts_with("ERROR   deadline_exceeded: 1 call to /grpcscope.fixtures.v1.Inventory/GetPart"));
    assert!(lines[3].starts_with("  seen: call 1 (conn 1 stream 1); conn 1; packet "), "{out}");
    assert!(out.lines().skip(1).all(|l| l.chars().count() <= 100), "{out}");
    let (_, out, _) = grpcscope(&["doctor", fixture("unary.pcap").to_str().unwrap()]);
    assert!(out.trim_end().ends_with("6 calls on 1 connection (41 packets): no findings"), "{out}");
}

/// Every shared capture: the doctor runs, counts what `calls` counts, and
/// finds what each scenario holds.
#[test]
fn the_shared_corpus_gets_the_findings_its_scenarios_hold() {
    let Some(dir) = shared_captures("the_shared_corpus_gets_the_findings_its_scenarios_hold") else { return };
    let expected = |name: &str| -> &[&str] {
        match name {
            "deadline" => &["error:deadline_exceeded"],
            "reconnect" => &["error:connect_failed", "warning:connection_churn"],
            "midstream_multiplex" | "midstream_node" => &["info:status_lost"],
            "large_messages" => &["info:capture_loss"],
            "tls_keylog" => &["info:tls_not_decrypted"],
            _ => &[],
        }
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "pcap" && ext != "pcapng" {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        // The pcapng carries its keys: nothing is left undecrypted.
        let scenario = if ext == "pcapng" && name == "tls_keylog" { "tls_keylog_with_keys" } else { &name };
        let (summary, findings) = doctor(&[path.to_str().unwrap()]);
        assert_eq!(rules(&findings), set(expected(scenario)), "{}", path.display());
        let (_, out, _) = grpcscope(&["calls", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(summary["calls"].as_u64().unwrap() as usize, json_lines(&out).len(), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} captures in {}", Path::new(&dir).display());
}

/// A tonic client pinging every 200 ms through a slow call: tonic's server
/// takes it, a C-core or grpc-go server would not. The pings named are the
/// client's, and those before the server's answer only.
#[test]
fn keepalive_pings_a_grpc_server_would_punish_are_foretold() {
    let path = fixture("keepalive.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 3);
    assert_eq!(rules(&findings), set(&["warning:keepalive_too_frequent"]));
    let f = finding(&findings, "keepalive_too_frequent");
    assert_eq!(f["inference"], true);
    assert_eq!(ids(&f["evidence"]["conns"]), [1]);
    let title = f["title"].as_str().unwrap();
    let ms: f64 = title["keepalive pings ".len()..].split("ms").next().unwrap().parse().unwrap();
    assert!((190.0..260.0).contains(&ms), "{title}");
    assert!(f["explanation"].as_str().unwrap().contains("every 5 minutes"), "{f:#?}");
    let all = frames(&path);
    let packets = ids(&f["evidence"]["packets"]);
    assert!(packets.len() >= 3, "at least the strikes past the limit: {packets:?}");
    for p in &packets {
        let pings: Vec<&Value> = all.iter().filter(|x| x["packet"] == *p && x["type"] == "PING").collect();
        assert!(pings.iter().any(|x| x["dir"] == "client_to_server"), "packet {p} is no client PING");
    }
    // Each strike came before the slow call's answer (the server's HEADERS
    // clear the strikes).
    let answer = all
        .iter()
        .filter(|x| x["type"] == "HEADERS" && x["dir"] == "server_to_client" && x["stream_id"] == 3)
        .map(|x| x["packet"].as_u64().unwrap())
        .min()
        .unwrap();
    let before = packets.iter().filter(|p| **p < answer).count();
    assert!(before >= 3, "{packets:?} vs the answer at {answer}");
}

/// A retry on a new connection to the same server is an attempt of the
/// call, not a hop: ten calls the retry saved and one it did not give no
/// cross-hop report, and the doctor counts the retries.
#[test]
fn retries_on_new_connections_are_attempts_not_hops() {
    let path = fixture("retries.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 51);
    assert_eq!(rules(&findings), set(&["warning:retries"]));
    let f = finding(&findings, "retries");
    assert_eq!(f["evidence"]["count"], 11);
    assert!(f["title"].as_str().unwrap().contains("(22% of its calls)"), "{f:#?}");

    // Every retried call shares its x-request-id with an earlier attempt on
    // another connection to the same server.
    let (_, out, _) = grpcscope(&["calls", "--format", "json", path.to_str().unwrap()]);
    let calls = json_lines(&out);
    let rid = |c: &Value| {
        c["request_headers"].as_array().unwrap().iter().find(|h| h[0] == "x-request-id").map(|h| h[1].clone())
    };
    for r in f["evidence"]["calls"].as_array().unwrap() {
        let retry = &calls[r["call"].as_u64().unwrap() as usize - 1];
        let first = calls.iter().find(|c| rid(c) == rid(retry) && c["conn"]["id"] != retry["conn"]["id"]).unwrap();
        assert_eq!(first["grpc_status_name"], "UNAVAILABLE", "{first:#}");
        assert_eq!(first["conn"]["server"], retry["conn"]["server"]);
    }
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let hops: Vec<Value> = json_lines(&out).into_iter().filter(|r| r["section"] == "hop").collect();
    assert!(hops.is_empty(), "a retry to the same server is no second hop: {hops:#?}");
}

/// HAProxy in mode tcp balances connections: two long-lived channels pin
/// their calls to two replicas and the third, seen only through health
/// checks, serves none.
#[test]
fn connections_balanced_at_l4_pin_calls_to_replicas() {
    let path = fixture("l4_balancing.pcap");
    let (_, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["warning:l4_balancing"]));
    let f = finding(&findings, "l4_balancing");
    assert_eq!(
        f["title"],
        "grpcscope.fixtures.v1.Inventory on port 50087: 3 replicas got 80, 21, 0 calls; connections, not calls, were balanced"
    );
    assert_eq!(f["evidence"]["count"], 101);
    assert_eq!(f["inference"], true);
    let why = f["explanation"].as_str().unwrap();
    assert!(
        why.contains(
            "127.0.0.2: 80 calls over 1 connection; 127.0.0.3: 21 calls over 1 connection; 127.0.0.4: 0 calls"
        ),
        "{why}"
    );
    // HAProxy's health checks (SYN, SYN-ACK, RST) are no failed attempts.
    let (_, out, _) = grpcscope(&["conns", path.to_str().unwrap()]);
    assert!(
        out.contains(
            "channel 127.0.0.1 -> 127.0.0.4:50087: 1 connection(s), 0 established, 0 reconnect(s), 0 failed attempt(s)"
        ),
        "{out}"
    );
}

/// docs/doctor.md's table has a row for every rule, in the code's order.
#[test]
fn every_rule_is_documented_in_order() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/doctor.md")).unwrap();
    let rules_table = doc.split("## On the shared corpus").next().unwrap();
    let rows: Vec<&str> = rules_table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(name, _)| name))
        .collect();
    let names: Vec<&str> = grpcscope::analysis::doctor::Rule::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(rows, names);
}

/// The cross-hop cases through HAProxy (mode http, HTTP/2 both ways), which
/// adds an x-request-id on the upstream leg only and, on its `timeout
/// server`, resets the upstream stream instead of closing the connection.
#[test]
fn haproxys_timeout_and_missing_upstream_are_told_like_nginxs() {
    let path = fixture("haproxy.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 7);
    assert_eq!(rules(&findings), set(&["error:proxy_timeout", "error:upstream_unavailable"]));
    let timeout = finding(&findings, "proxy_timeout");
    let title = timeout["title"].as_str().unwrap();
    assert!(title.starts_with("the proxy 127.0.0.1:50088 timed out waiting for its upstream after 30"), "{title}");
    assert_eq!(ids(&timeout["evidence"]["conns"]), [1, 2], "the client's leg and the upstream leg");
    let down = finding(&findings, "upstream_unavailable");
    assert!(down["explanation"].as_str().unwrap().contains("refused"), "{down:#?}");

    // stats: each failure with its legs, the cause and who failed first.
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let hops: Vec<Value> = json_lines(&out).into_iter().filter(|r| r["section"] == "hop").collect();
    let causes: Vec<(&str, usize, u64)> = hops
        .iter()
        .map(|h| {
            (h["cause"].as_str().unwrap(), h["legs"].as_array().unwrap().len(), h["failed_first"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(causes, [("application", 2, 1), ("upstream_timeout", 2, 1), ("upstream_refused", 1, 0)]);
    assert!(hops[0]["paired_by"].as_str().unwrap().contains("on the upstream leg only"), "{:#}", hops[0]);
    let upstream = &hops[1]["legs"][1];
    assert_eq!((upstream["status"].as_str(), upstream["initiated_by"].as_str()), (Some("CANCELLED"), Some("client")));
}

/// A SYN dropped by a server whose accept queue was full: the SYN-ACK
/// came after the client's 1 s retransmission.
#[test]
fn a_syn_lost_to_a_full_accept_queue_is_a_slow_handshake() {
    let (summary, findings) = doctor(&[fixture("slow_handshake.pcap").to_str().unwrap()]);
    assert_eq!(summary["calls"], 1);
    assert_eq!(rules(&findings), set(&["warning:slow_handshake"]));
    let f = finding(&findings, "slow_handshake");
    let why = f["explanation"].as_str().unwrap();
    let secs: f64 = why.split("came ").nth(1).unwrap().split('s').next().unwrap().parse().unwrap();
    assert!((1.0..1.5).contains(&secs), "{why}");
    assert!(f["advice"].as_str().unwrap().contains("full accept queue"));
}

/// Packets lost to netfilter after the capture saw them: the connection's
/// retransmissions are a finding, and tshark sees them as retransmissions too.
#[test]
fn a_connection_losing_packets_has_a_retransmission_hot_spot() {
    let path = fixture("retransmissions.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 82);
    assert_eq!(rules(&findings), set(&["warning:retransmissions"]));
    let f = finding(&findings, "retransmissions");
    assert_eq!(f["title"], "conn 1 (127.0.0.1:35780 -> 127.0.0.1:50091): 32 of 391 segments retransmitted");
    assert_eq!(f["evidence"]["count"], 32);
    if !have_tshark("a_connection_losing_packets_has_a_retransmission_hot_spot") {
        return;
    }
    let out = std::process::Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-Y",
            "tcp.analysis.retransmission || tcp.analysis.spurious_retransmission",
        ])
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(
        (20..=32).contains(&theirs),
        "tshark marks {theirs} retransmissions (it does not count a probe that repeats bytes already acknowledged)"
    );
}

/// tonic's server keeps gRPC's 4 MiB default: a 3.8 MiB request passes
/// close to the limit, a 4.5 MiB one is refused (tonic says OUT_OF_RANGE
/// where C-core says RESOURCE_EXHAUSTED).
#[test]
fn messages_near_and_over_the_default_limit_from_real_peers() {
    let (summary, findings) = doctor(&[fixture("large_messages.pcap.zst").to_str().unwrap()]);
    assert_eq!(summary["calls"], 3);
    assert_eq!(rules(&findings), set(&["error:large_messages", "warning:large_messages"]));
    let refused = findings.iter().find(|f| f["severity"] == "error").unwrap();
    assert_eq!(refused["title"], "1 call refused a message as too large");
    assert_eq!(refused["evidence"]["calls"][0]["stream"], 3);
    let near = findings.iter().find(|f| f["severity"] == "warning").unwrap();
    assert_eq!(near["evidence"]["calls"][0]["stream"], 1);
    let largest: u64 =
        near["title"].as_str().unwrap().rsplit("largest ").next().unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((3_900_000..4_194_304).contains(&largest), "3.8 MiB and its framing: {largest}");
}

/// A server that decompresses gzip only refuses zstd with UNIMPLEMENTED.
#[test]
fn a_compression_the_server_does_not_take_is_found() {
    let (summary, findings) = doctor(&[fixture("encodings.pcap").to_str().unwrap()]);
    assert_eq!(summary["calls"], 4);
    assert_eq!(rules(&findings), set(&["error:compression_rejected"]));
    let f = finding(&findings, "compression_rejected");
    assert_eq!(f["evidence"]["count"], 3);
    let streams: Vec<u64> =
        f["evidence"]["calls"].as_array().unwrap().iter().map(|c| c["stream"].as_u64().unwrap()).collect();
    assert_eq!(streams, [3, 5, 7], "the zstd calls, not the gzip one");
}

/// The keepalive client of `keepalive.pcap` against a real C-core server
/// (Python grpcio), which enforces gRPC's ping policy: it ends the
/// connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings", told as such
/// (not foretold again), after the pings the prediction counts as strikes.
#[test]
fn a_ccore_server_sends_too_many_pings_where_the_prediction_said() {
    let path = fixture("ccore_keepalive.pcap");
    let (_, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["error:too_many_pings"]));
    let f = finding(&findings, "too_many_pings");
    assert!(f["explanation"].as_str().unwrap().contains("\"too_many_pings\""));
    let goaway = ids(&f["evidence"]["packets"])[0];
    // At least three client pings came less than 5 minutes apart, with no
    // server HEADERS or DATA between, before the GOAWAY: the strikes the
    // keepalive rule counts (it fires at the third).
    let all = frames(&path);
    let last_answer = all
        .iter()
        .filter(|x| x["dir"] == "server_to_client" && (x["type"] == "HEADERS" || x["type"] == "DATA"))
        .map(|x| x["packet"].as_u64().unwrap())
        .filter(|p| *p < goaway)
        .max()
        .unwrap();
    let strikes = all
        .iter()
        .filter(|x| x["type"] == "PING" && x["dir"] == "client_to_server" && x["ack"] == false)
        .map(|x| x["packet"].as_u64().unwrap())
        .filter(|p| *p > last_answer && *p <= goaway)
        .count()
        - 1;
    assert!(strikes >= 3, "{strikes} strikes before C-core's GOAWAY at packet {goaway}");
}

/// nginx's read timeout in front of a real C-core server: nginx closes the
/// upstream connection at 300 ms, the server writes its grpc-status after
/// the FIN, and nginx's kernel resets the connection. The verdict is the
/// proxy's timeout, measured to the FIN, not the server's status.
#[test]
fn a_status_written_after_the_proxy_closed_is_the_proxys_timeout_with_a_real_server() {
    let path = fixture("ccore_late_status.pcap");
    let (_, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["error:proxy_timeout"]));
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let hops: Vec<Value> = json_lines(&out).into_iter().filter(|r| r["section"] == "hop").collect();
    assert_eq!(hops.len(), 1, "{hops:#?}");
    let h = &hops[0];
    assert_eq!((h["cause"].as_str(), h["failed_first"].as_u64()), (Some("upstream_timeout"), Some(1)));
    let upstream = &h["legs"][1];
    assert_eq!(upstream["initiated_by"], "client", "the proxy gave up first: {upstream:#}");
    let detail = upstream["detail"].as_str().unwrap();
    assert!(detail.starts_with("its client closed the connection after 30"), "{detail}");
    assert!(
        detail.contains("and the server's grpc-status UNAVAILABLE came ") && detail.ends_with(" later, to no one"),
        "{detail}"
    );
    let (_, out, _) = grpcscope(&["conns", path.to_str().unwrap()]);
    assert!(out.contains("end: FIN by client, then RST by client"), "the late status drew nginx's RST: {out}");
}

/// A real server's GOAWAY with an error code: tonic's answer to a client
/// that sent a connection WINDOW_UPDATE of 0.
#[test]
fn a_servers_goaway_protocol_error_is_a_finding() {
    let path = fixture("goaway_error.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 1, "the good client's call");
    assert_eq!(rules(&findings), set(&["warning:goaway_error"]));
    let f = finding(&findings, "goaway_error");
    assert!(f["title"].as_str().unwrap().starts_with("GOAWAY PROTOCOL_ERROR by the server"), "{f:#?}");
    assert_eq!(ids(&f["evidence"]["conns"]), [1]);
    let packet = ids(&f["evidence"]["packets"])[0];
    let goaway = frames(&path).into_iter().find(|x| x["packet"] == packet && x["type"] == "GOAWAY");
    assert!(goaway.is_some(), "packet {packet} carries the GOAWAY");
}

/// Retries through a real nginx: each attempt of the client reaches nginx
/// on a new connection, and nginx passes it upstream with the client's
/// x-request-id. A call that failed both times is reported as two hops of
/// two attempts each, not four hops.
#[test]
fn retries_through_a_proxy_are_attempts_of_each_hop() {
    let path = fixture("proxy_retries.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 52, "26 calls, each on both legs");
    assert_eq!(rules(&findings), set(&["warning:retries"]));
    assert_eq!(finding(&findings, "retries")["evidence"]["count"], 12, "6 retried calls, on both legs");
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let hops: Vec<Value> = json_lines(&out).into_iter().filter(|r| r["section"] == "hop").collect();
    assert_eq!(hops.len(), 1, "only the call its retry did not save: {hops:#?}");
    let h = &hops[0];
    assert_eq!(h["paired_by"], "x-request-id rid-proxied-18");
    let attempts = |key: &str| -> Vec<(u64, String)> {
        h[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["attempt"].as_u64().unwrap(), l["server"].as_str().unwrap().to_string()))
            .collect()
    };
    let (front, upstream) = ("127.0.0.1:50098".to_string(), "127.0.0.1:50099".to_string());
    assert_eq!(attempts("legs"), [(2, front.clone()), (2, upstream.clone())]);
    assert_eq!(attempts("retried"), [(1, front), (1, upstream)]);
    assert_eq!((h["cause"].as_str(), h["failed_first"].as_u64()), (Some("application"), Some(1)));
    assert!(h["summary"].as_str().unwrap().ends_with("(the last attempt carried grpc-previous-rpc-attempts: 1)"));
}

/// Through HAProxy with a C-core server behind it: retries keep the
/// client's x-request-id on both legs (two hops of two attempts; HAProxy
/// sends both upstream attempts on its one connection), and a call past
/// HAProxy's `timeout server` is the proxy's timeout (it resets the
/// upstream stream; C-core writes nothing after that).
#[test]
fn retries_and_a_timeout_through_haproxy_to_a_ccore_server() {
    let path = fixture("haproxy_ccore.pcap");
    let (_, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(rules(&findings), set(&["error:proxy_timeout"]));
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let hops: Vec<Value> = json_lines(&out).into_iter().filter(|r| r["section"] == "hop").collect();
    let told: Vec<(&str, &str, usize, usize)> = hops
        .iter()
        .map(|h| {
            let n = |k: &str| h[k].as_array().map_or(0, Vec::len);
            (h["paired_by"].as_str().unwrap(), h["cause"].as_str().unwrap(), n("legs"), n("retried"))
        })
        .collect();
    assert_eq!(
        told,
        [
            ("x-request-id rid-haproxy-10", "application", 2, 2),
            ("x-request-id rid-haproxy-slow", "upstream_timeout", 2, 0)
        ]
    );
    let upstream = &hops[1]["legs"][1];
    assert_eq!((upstream["status"].as_str(), upstream["initiated_by"].as_str()), (Some("CANCELLED"), Some("client")));
    assert_eq!(hops[1]["failed_first"], 1);
}

/// nginx verifying a TLS upstream against the wrong CA: no alert on the
/// wire (nginx checks the certificate after the handshake and resets the
/// connection), a 502 to the client. The hop report's cause is a TLS
/// failure, inferred from a client that hung up right after the handshake.
#[test]
fn a_proxy_refusing_its_upstreams_certificate_is_a_tls_failure() {
    let path = fixture("proxy_tls_upstream.pcap");
    let (summary, findings) = doctor(&[path.to_str().unwrap()]);
    assert_eq!(summary["calls"], 2);
    assert_eq!(rules(&findings), set(&["error:upstream_unavailable"]), "no tls_not_decrypted: no request was hidden");
    let f = finding(&findings, "upstream_unavailable");
    assert!(f["explanation"]
        .as_str()
        .unwrap()
        .contains("The proxy's TLS handshake with 127.0.0.1:50103 failed (no alert"));
    assert!(f["advice"].as_str().unwrap().contains("grpc_ssl_trusted_certificate"));
    assert_eq!(f["inference"], true);
    assert_eq!(ids(&f["evidence"]["conns"]), [1, 2, 3]);
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let causes: Vec<String> = json_lines(&out)
        .into_iter()
        .filter(|r| r["section"] == "hop")
        .map(|h| h["cause"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(causes, ["tls_failure", "tls_failure"]);
}
