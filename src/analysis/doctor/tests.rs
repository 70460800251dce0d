use super::*;

fn call(stream: u32, method: &str, status: &'static str) -> CallFact {
    CallFact {
        conn: 1,
        stream,
        server: "10.0.0.2:50051".parse().unwrap(),
        method: Some(Arc::from(method)),
        start: Timestamp(i64::from(stream) * 1_000_000),
        duration: Some(2_000_000),
        status: Some(status),
        origin: if status == "OK" { Origin::None } else { Origin::Application },
        transport: None,
        http_status: None,
        timeout: None,
        rst_by: None,
        largest: [10, 10],
        previous_attempts: None,
        about_compression: false,
        about_size: false,
        packet: u64::from(stream) + 100,
        incomplete: false,
    }
}

fn run(calls: Vec<CallFact>) -> Vec<Finding> {
    let mut facts = Facts { calls, ..Facts::default() };
    rules::run(&mut facts)
}

#[test]
fn retries_are_a_finding_only_when_they_are_many() {
    let mut calls: Vec<CallFact> = (0..100).map(|i| call(2 * i + 1, "/a.B/C", "OK")).collect();
    for c in calls.iter_mut().take(9) {
        c.previous_attempts = Some(1);
    }
    assert!(run(calls.clone()).is_empty(), "9 retries of 100 calls are below both thresholds");
    calls.iter_mut().take(12).for_each(|c| c.previous_attempts = Some(2));
    let found = run(calls);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].rule, found[0].severity, found[0].evidence.count), (Rule::Retries, Severity::Warning, 12));
    assert_eq!(found[0].evidence.calls.len(), MAX_EVIDENCE);
    assert_eq!(found[0].evidence.calls[0], CallRef { call: 1, conn: 1, stream: 1 });
}

#[test]
fn messages_near_the_limit_warn_and_refused_ones_are_errors() {
    let mut near = call(1, "/a.B/Upload", "OK");
    near.largest = [rules::NEAR_LIMIT_BYTES, 5];
    let mut refused = call(3, "/a.B/Upload", "RESOURCE_EXHAUSTED");
    refused.about_size = true;
    let mut small = call(5, "/a.B/Upload", "OK");
    small.largest = [rules::NEAR_LIMIT_BYTES - 1, 0];
    let found = run(vec![near, refused, small]);
    let kinds: Vec<(Rule, Severity, u64)> = found.iter().map(|f| (f.rule, f.severity, f.evidence.count)).collect();
    assert_eq!(kinds, [(Rule::LargeMessages, Severity::Error, 1), (Rule::LargeMessages, Severity::Warning, 1)]);
    assert_eq!(found[1].evidence.calls[0].stream, 1);
}

#[test]
fn an_unsupported_encoding_is_not_told_as_a_missing_method() {
    let mut c = call(1, "/a.B/C", "UNIMPLEMENTED");
    c.about_compression = true;
    let found = run(vec![c, call(3, "/a.B/Gone", "UNIMPLEMENTED")]);
    let rules: Vec<Rule> = found.iter().map(|f| f.rule).collect();
    assert_eq!(rules, [Rule::Unimplemented, Rule::CompressionRejected]);
    assert!(found[0].title.contains("/a.B/Gone"));
}

#[test]
fn a_deadline_shorter_than_the_usual_latency_says_so() {
    let mut calls: Vec<CallFact> = (0..5).map(|i| call(2 * i + 1, "/a.B/Slow", "OK")).collect();
    calls.iter_mut().for_each(|c| c.duration = Some(300_000_000));
    let mut late = call(11, "/a.B/Slow", "DEADLINE_EXCEEDED");
    late.timeout = Some(100_000_000);
    late.rst_by = Some(Side::Client);
    calls.push(late);
    let found = run(calls);
    assert_eq!(found.len(), 1);
    assert!(found[0].explanation.contains("the deadline is shorter than the method usually needs"), "{found:?}");
    assert!(found[0].advice.starts_with("Raise the deadline"));
}

#[test]
fn evidence_lists_are_capped_but_the_count_is_not() {
    let calls: Vec<CallFact> = (0..50).map(|i| call(2 * i + 1, "/a.B/Gone", "UNIMPLEMENTED")).collect();
    let found = run(calls);
    let ev = &found[0].evidence;
    assert_eq!((ev.count, ev.calls.len(), ev.packets.len(), ev.conns.as_slice()), (50, 10, 10, &[1u64][..]));
}

#[test]
fn each_rule_is_named_as_json_writes_it() {
    for rule in Rule::ALL {
        assert_eq!(serde_json::to_value(rule).unwrap(), rule.name(), "{rule:?}");
    }
    let distinct: std::collections::BTreeSet<Rule> = Rule::ALL.into_iter().collect();
    assert_eq!(distinct.len(), Rule::ALL.len());
}

/// `n` OK calls to `server` on connection `conn`.
fn calls_on(conn: ConnId, server: &str, n: u32) -> Vec<CallFact> {
    (0..n).map(|i| CallFact { conn, server: server.parse().unwrap(), ..call(2 * i + 1, "/a.B/C", "OK") }).collect()
}

#[test]
fn replicas_unbalanced_by_pinned_connections_are_l4_balancing_and_balanced_ones_are_not() {
    let l4 = |calls: Vec<CallFact>| run(calls).into_iter().filter(|f| f.rule == Rule::L4Balancing).count();
    let pinned = [calls_on(1, "10.0.0.2:8080", 60), calls_on(2, "10.0.0.3:8080", 10)].concat();
    assert_eq!(l4(pinned), 1, "60 and 10 calls over one connection each");
    let even = [calls_on(1, "10.0.0.2:8080", 40), calls_on(2, "10.0.0.3:8080", 35)].concat();
    assert_eq!(l4(even), 0, "balanced enough");
    // A connection per call: whatever the spread, the balancer had a choice per call.
    let per_call: Vec<CallFact> =
        (0..60u64).flat_map(|i| calls_on(i + 1, if i < 50 { "10.0.0.2:8080" } else { "10.0.0.3:8080" }, 1)).collect();
    assert_eq!(l4(per_call), 0, "short connections are not pinned");
    // Different ports are different services' listeners, not replicas.
    let ports = [calls_on(1, "10.0.0.2:8080", 60), calls_on(2, "10.0.0.3:9090", 10)].concat();
    assert_eq!(l4(ports), 0);
}

#[test]
fn calls_past_the_limits_are_said_to_be_unanalysed() {
    let mut facts = Facts { calls_dropped: 5, conns_dropped: 1, ..Facts::default() };
    let found = rules::run(&mut facts);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].rule, found[0].severity, found[0].evidence.count), (Rule::NotAnalysed, Severity::Info, 6));
    assert_eq!(found[0].title, "5 calls and 1 connections past the doctor's limits were not analysed");
    assert!(found[0].advice.contains("editcap -c"));
}
