//! The rules of `grpcscope doctor`, each a function from the facts to
//! findings. Thresholds are constants here and are listed, with the fixture
//! that shows each rule, in docs/doctor.md.

use super::{CallFact, CallRef, Evidence, Facts, Finding, Rule, Severity, MAX_EVIDENCE};
use crate::analysis::channels;
use crate::analysis::hops::HopReport;
use crate::analysis::pipeline::ConnReport;
use crate::grpc::Origin;
use crate::tcp::{ConnId, EndReason, Side};
use crate::time::human_duration;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Durations within this fraction of their median "cluster at one duration".
pub const CLUSTER_SPREAD: f64 = 0.10;
/// A channel churns when this many of its connections were replaced after
/// the server (or a reset) ended the one before.
pub const CHURN_RECONNECTS: u64 = 2;
/// Rapid Reset: a connection whose client reset at least this many streams...
pub const RAPID_RESET_MIN: u64 = 100;
/// ...and at least this share of all its streams.
pub const RAPID_RESET_SHARE: f64 = 0.5;
/// Messages at least this large are near gRPC's 4 MiB default limit.
pub const NEAR_LIMIT_BYTES: u32 = 3 * 1024 * 1024 + 512 * 1024;
/// Retries: at least this many retried calls of a method...
pub const RETRIES_MIN: u64 = 10;
/// ...and at least this share of its calls.
pub const RETRIES_SHARE: f64 = 0.10;
/// Retransmissions: at least this many retransmitted segments on a connection...
pub const RETRANSMIT_MIN: u64 = 10;
/// ...and at least this share of its packets.
pub const RETRANSMIT_SHARE: f64 = 0.01;
/// A TCP handshake this slow lost its SYN or SYN-ACK once (the first
/// retransmission timeout is one second).
pub const SLOW_TCP_HANDSHAKE_NANOS: i64 = 1_000_000_000;
/// A TLS handshake slower than this is worth a look.
pub const SLOW_TLS_HANDSHAKE_SECONDS: f64 = 1.0;
/// Stream limit: at least this many calls opened right after a stream
/// closed at the server's MAX_CONCURRENT_STREAMS (they had waited).
pub const STREAM_LIMIT_QUEUED: u64 = 3;
/// Flow control: a direction of a connection whose senders lost at least
/// this long, in all, waiting at a zero window.
pub const STALL_TOTAL_NANOS: i64 = 100_000_000;
/// L4 balancing: a service's calls (on one port) are judged when they are
/// at least this many.
pub const L4_MIN_CALLS: u64 = 30;
/// ... and ride connections carrying at least this many calls each on
/// average (long-lived channels, not a connection per call).
pub const L4_CALLS_PER_CONN: u64 = 10;
/// ... and the busiest replica served at least this many times the calls
/// of the least busy one ...
pub const L4_SKEW: u64 = 3;
/// ... and at least this many more.
pub const L4_MIN_GAP: u64 = 20;
/// ENHANCE_YOUR_CALM.
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Every rule, most severe findings first.
pub fn run(f: &mut Facts) -> Vec<Finding> {
    f.calls.sort_by_key(|c| (c.start, c.conn, c.stream));
    let hops = f.hops.report();
    let mut out = Vec::new();
    proxy_timeout(f, &hops, &mut out);
    upstream_unavailable(f, &hops, &mut out);
    connect_failed(f, &hops, &mut out);
    deadline_exceeded(f, &mut out);
    connection_churn(f, &mut out);
    goaways(f, &mut out);
    keepalive_too_frequent(f, &mut out);
    rapid_reset(f, &mut out);
    stream_limit(f, &mut out);
    flow_control_stall(f, &mut out);
    tls_handshake_failed(f, &mut out);
    tls_not_decrypted(f, &mut out);
    unimplemented(f, &mut out);
    compression_rejected(f, &mut out);
    large_messages(f, &mut out);
    retries(f, &mut out);
    l4_balancing(f, &mut out);
    retransmissions(f, &mut out);
    slow_handshake(f, &mut out);
    status_lost(f, &mut out);
    capture_loss(f, &mut out);
    not_analysed(f, &mut out);
    out.sort_by_key(|x| (x.severity, x.rule));
    name_hosts(f, &mut out);
    out
}

/// Adds to each finding's evidence the names of its connections' hosts.
fn name_hosts(f: &Facts, findings: &mut [Finding]) {
    let by_id: ahash::AHashMap<ConnId, &ConnReport> = f.conns.iter().map(|c| (c.tcp.id, c)).collect();
    for finding in findings {
        let ev = &mut finding.evidence;
        for id in &ev.conns {
            let Some(c) = by_id.get(id) else { continue };
            for (_, ip, name) in c.named_hosts() {
                if !ev.names.iter().any(|h| h.address == ip) {
                    ev.names.push(super::NamedHost { address: ip, name: name.clone() });
                }
            }
        }
    }
}

/// `10.0.0.2 (shop/inventory-0)`: a host of the capture with its name, when
/// a connection's record has one.
fn host_text(f: &Facts, ip: std::net::IpAddr) -> String {
    let name = f.conns.iter().find_map(|c| c.named_hosts().find(|(_, at, _)| *at == ip).map(|(_, _, n)| n));
    match name {
        Some(n) => format!("{ip} ({})", n.label()),
        None => ip.to_string(),
    }
}

/// Collects evidence up to [`MAX_EVIDENCE`] of each kind, counting all.
#[derive(Default)]
struct Collect {
    ev: Evidence,
}

impl Collect {
    /// Evidence made of the calls at `idx`.
    fn calls(f: &Facts, idx: &[usize]) -> Self {
        let mut ev = Collect::default();
        for &i in idx {
            if let Some(c) = f.calls.get(i) {
                ev.call(i, c);
            }
        }
        ev
    }

    fn call(&mut self, index: usize, c: &CallFact) {
        self.ev.count += 1;
        if self.ev.calls.len() < MAX_EVIDENCE {
            self.ev.calls.push(CallRef { call: index + 1, conn: c.conn, stream: c.stream });
        }
        self.conn(c.conn);
        if c.packet > 0 {
            self.packet(c.packet);
        }
    }

    fn conn(&mut self, id: ConnId) {
        if self.ev.conns.len() < MAX_EVIDENCE && !self.ev.conns.contains(&id) {
            self.ev.conns.push(id);
        }
    }

    fn packet(&mut self, p: u64) {
        if self.ev.packets.len() < MAX_EVIDENCE && !self.ev.packets.contains(&p) {
            self.ev.packets.push(p);
        }
    }

    fn done(mut self) -> Evidence {
        self.ev.conns.sort_unstable();
        self.ev.packets.sort_unstable();
        self.ev
    }
}

/// Where each (connection, stream) is in `calls`.
fn positions(calls: &[CallFact]) -> ahash::AHashMap<(ConnId, u32), usize> {
    calls.iter().enumerate().map(|(i, c)| ((c.conn, c.stream), i)).collect()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Min, median and max of some durations, and whether they cluster at one value.
struct Spread {
    min: i64,
    median: i64,
    max: i64,
    clustered: bool,
}

fn spread(mut d: Vec<i64>) -> Option<Spread> {
    d.sort_unstable();
    let (min, max) = (*d.first()?, *d.last()?);
    let median = *d.get(d.len() / 2)?;
    let clustered = (max - min) as f64 <= CLUSTER_SPREAD * median as f64;
    Some(Spread { min, median, max, clustered })
}

fn span_text(s: &Spread) -> String {
    if s.min == s.max {
        human_duration(s.min)
    } else {
        format!("{} to {} (median {})", human_duration(s.min), human_duration(s.max), human_duration(s.median))
    }
}

fn by_key<K: Ord>(calls: &[CallFact], key: impl Fn(&CallFact) -> Option<K>) -> BTreeMap<K, Vec<usize>> {
    let mut groups: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, c) in calls.iter().enumerate() {
        if let Some(k) = key(c) {
            groups.entry(k).or_default().push(i);
        }
    }
    groups
}

fn method_name(c: &CallFact) -> String {
    c.method.as_deref().unwrap_or("(method unknown)").to_string()
}

/// A client-facing leg's index, and the upstream leg (its connection, how
/// long the proxy waited) that shows the proxy giving up, when paired.
type TimedOutLeg = (usize, Option<(ConnId, i64)>);

/// A 504, or a proxy that gave up on its upstream leg: the proxy's timeout.
fn proxy_timeout(f: &Facts, hops: &[HopReport], out: &mut Vec<Finding>) {
    // The client-facing leg of each such call, and the upstream leg that shows the proxy giving up.
    let mut legs: BTreeMap<(ConnId, u32), Option<(ConnId, i64)>> = BTreeMap::new();
    for c in f.calls.iter().filter(|c| c.http_status == Some(504)) {
        legs.insert((c.conn, c.stream), None);
    }
    for h in hops {
        let (Some(first), Some(bad)) = (h.legs.first(), h.legs.get(h.failed_first)) else { continue };
        if h.failed_first > 0 && bad.initiated_by == Some(Side::Client) {
            let gave_up = bad.end.map(|e| e.nanos_since(bad.start)).unwrap_or(0);
            legs.insert((first.conn, first.stream_id), Some((bad.conn, gave_up)));
        }
    }
    if legs.is_empty() {
        return;
    }
    let at = positions(&f.calls);
    let mut by_proxy: BTreeMap<SocketAddr, Vec<TimedOutLeg>> = BTreeMap::new();
    for (key, upstream) in legs {
        if let Some(&i) = at.get(&key) {
            if let Some(c) = f.calls.get(i) {
                by_proxy.entry(c.server).or_default().push((i, upstream));
            }
        }
    }
    for (proxy, items) in by_proxy {
        let mut ev = Collect::default();
        let mut waited = Vec::new();
        let mut upstreams = Vec::new();
        for (i, up) in &items {
            let Some(c) = f.calls.get(*i) else { continue };
            ev.call(*i, c);
            match up {
                Some((conn, gave_up)) => {
                    ev.conn(*conn);
                    upstreams.push(*conn);
                    waited.push(*gave_up);
                }
                None => waited.extend(c.duration),
            }
        }
        let Some(s) = spread(waited) else { continue };
        let n = ev.ev.count;
        let statuses: Vec<String> = items
            .iter()
            .filter_map(|(i, _)| f.calls.get(*i))
            .map(|c| c.http_status.map_or_else(|| c.status.unwrap_or("?").to_string(), |h| format!("HTTP {h}")))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut explanation = format!(
            "{} through {proxy} failed ({}) after the proxy waited {} for its upstream. A 504 Gateway Timeout, or a \
             proxy closing its upstream stream before the answer, is the proxy's decision, not the gRPC server's: \
             the server never answered in time.",
            plural(n, "call", "calls"),
            statuses.join(", "),
            span_text(&s)
        );
        if !upstreams.is_empty() {
            explanation.push_str(&format!(
                " The upstream {} (conn {}) shows the proxy giving up first.",
                if upstreams.len() == 1 { "leg" } else { "legs" },
                upstreams.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        if s.clustered {
            explanation.push_str(&format!(
                " The waits cluster at about {}: the signature of a configured timeout (nginx grpc_read_timeout, \
                 HAProxy timeout server, an Envoy route timeout).",
                human_duration(s.median)
            ));
        }
        out.push(Finding {
            rule: Rule::ProxyTimeout,
            severity: Severity::Error,
            title: format!("the proxy {proxy} timed out waiting for its upstream after {}", human_duration(s.median)),
            evidence: ev.done(),
            explanation,
            advice: "If the upstream is legitimately this slow, raise the proxy's timeout above the method's latency \
                     and keep client deadlines below it, so the client decides and sees DEADLINE_EXCEEDED; otherwise \
                     find out why the upstream did not answer within the timeout (its own latency, a full queue, a \
                     stuck backend)."
                .into(),
            inference: true,
        });
    }
}

/// 502 and 503 from a proxy, and the refused upstream attempt behind them.
fn upstream_unavailable(f: &Facts, hops: &[HopReport], out: &mut Vec<Finding>) {
    let groups = by_key(&f.calls, |c| c.http_status.filter(|s| *s == 502 || *s == 503).map(|_| c.server));
    for (proxy, idx) in groups {
        let mut ev = Collect::calls(f, &idx);
        // The proxy's failed upstream attempts, alike ones told once.
        let mut failures: BTreeMap<(SocketAddr, String), Vec<ConnId>> = BTreeMap::new();
        let (mut tls, mut inferred) = (false, false);
        let attempts = hops
            .iter()
            .filter(|h| h.legs.first().is_some_and(|l| l.server == proxy))
            .filter_map(|h| h.refused_upstream.as_ref());
        for a in attempts.take(MAX_EVIDENCE) {
            ev.conn(a.conn);
            tls |= a.tls_alert.is_some();
            inferred |= a.tls_inferred;
            let server = a.server;
            let why = match &a.tls_alert {
                Some(alert) => format!("The proxy's TLS handshake with {server} failed ({alert})"),
                None if a.refused => format!("The proxy's connection to {server} was refused: nothing listened there"),
                None => format!("The proxy's connection to {server} was never answered"),
            };
            failures.entry((a.server, why)).or_default().push(a.conn);
        }
        let mut explanation = format!(
            "{} through {proxy} answered HTTP 502/503 by the proxy itself: it had no upstream to pass them to.",
            plural(ev.ev.count, "call was", "calls were")
        );
        for ((_, why), conns) in &failures {
            let ids: Vec<String> = conns.iter().map(ToString::to_string).collect();
            let label = if conns.len() == 1 { "conn" } else { "conns" };
            explanation.push_str(&format!(" {why} ({label} {}).", ids.join(", ")));
        }
        let mut advice = "Check that the upstream is running and listening on the port the proxy is configured with, \
                          and that its readiness (the endpoints of its Kubernetes Service) matches: a proxy that \
                          routes to a stopped or not yet ready backend answers 502/503."
            .to_string();
        if tls {
            advice = "Check the proxy's TLS settings for the upstream against the upstream's certificate: the CA it \
                      trusts (nginx grpc_ssl_trusted_certificate, HAProxy ca-file), the name it verifies \
                      (grpc_ssl_name, SNI) and the TLS versions both allow; the proxy's error log names the check \
                      that failed."
                .to_string();
        }
        out.push(Finding {
            rule: Rule::UpstreamUnavailable,
            severity: Severity::Error,
            title: format!("the proxy {proxy} could not reach its upstream"),
            evidence: ev.done(),
            explanation,
            advice,
            inference: inferred,
        });
    }
}

/// Connection attempts that got no connection (not already told as a proxy's upstream).
fn connect_failed(f: &Facts, hops: &[HopReport], out: &mut Vec<Finding>) {
    let told: Vec<ConnId> = hops.iter().filter_map(|h| h.refused_upstream.as_ref().map(|a| a.conn)).collect();
    let mut by_server: BTreeMap<SocketAddr, Vec<&ConnReport>> = BTreeMap::new();
    for c in &f.conns {
        let failed = matches!(c.tcp.end, EndReason::Refused | EndReason::NoAnswer);
        if failed && !told.contains(&c.tcp.id) {
            by_server.entry(c.tcp.server).or_default().push(c);
        }
    }
    for (server, conns) in by_server {
        let mut ev = Collect::default();
        let refused = conns.iter().filter(|c| matches!(c.tcp.end, EndReason::Refused)).count() as u64;
        for c in &conns {
            ev.ev.count += 1;
            ev.conn(c.tcp.id);
        }
        let n = ev.ev.count;
        out.push(Finding {
            rule: Rule::ConnectFailed,
            severity: Severity::Error,
            title: format!("{} to {server} got no connection", plural(n, "connection attempt", "connection attempts")),
            evidence: ev.done(),
            explanation: format!(
                "{} refused (the server host answered the SYN with a RST: nothing listened on the port) and {} never \
                 answered (a firewall, a network policy, or a host that is gone). A gRPC client reports the calls it \
                 could not send as UNAVAILABLE; they never reached the server, so its logs do not show them.",
                plural(refused, "attempt was", "attempts were"),
                n - refused
            ),
            advice: "If the server was restarting, make clients wait for it (a readiness probe, a rolling update that \
                     keeps old pods until new ones are ready, a retry policy for UNAVAILABLE); otherwise check the \
                     address, the port and the network policies between the two."
                .into(),
            inference: false,
        });
    }
}

/// DEADLINE_EXCEEDED per method, beside what the method's OK calls took.
fn deadline_exceeded(f: &Facts, out: &mut Vec<Finding>) {
    let groups = by_key(&f.calls, |c| (c.status == Some("DEADLINE_EXCEEDED")).then(|| method_name(c)));
    if groups.is_empty() {
        return;
    }
    let ok_by_method = by_key(&f.calls, |c| (c.status == Some("OK") && c.duration.is_some()).then(|| method_name(c)));
    for (method, idx) in groups {
        let mut ev = Collect::default();
        let mut deadlines = Vec::new();
        let mut client_reset = 0u64;
        for &i in &idx {
            let Some(c) = f.calls.get(i) else { continue };
            ev.call(i, c);
            deadlines.extend(c.timeout.map(|t| t as i64));
            client_reset += u64::from(c.rst_by == Some(Side::Client));
        }
        let ok: Vec<i64> = ok_by_method
            .get(&method)
            .map(|v| v.iter().filter_map(|&i| f.calls.get(i).and_then(|c| c.duration)).collect())
            .unwrap_or_default();
        let n = ev.ev.count;
        let mut explanation = format!("{} to {method} ended with DEADLINE_EXCEEDED", plural(n, "call", "calls"));
        let deadline = spread(deadlines);
        match &deadline {
            Some(d) => explanation.push_str(&format!(": the client's deadline (grpc-timeout) was {}", span_text(d))),
            None => explanation.push_str(" (their requests carried no grpc-timeout the capture shows)"),
        }
        if client_reset > 0 {
            explanation.push_str(&format!(
                "; the client reset (RST_STREAM) {} when the deadline expired",
                if client_reset == n { "every one".to_string() } else { plural(client_reset, "of them", "of them") }
            ));
        }
        explanation.push('.');
        let usual = spread(ok);
        let shorter = match (&deadline, &usual) {
            (Some(d), Some(u)) => {
                explanation.push_str(&format!(" The method's OK calls took {}", span_text(u)));
                if d.median < u.median {
                    explanation.push_str(": the deadline is shorter than the method usually needs.");
                    true
                } else {
                    explanation.push_str(": these calls were slower than usual, not the deadline too short.");
                    false
                }
            }
            _ => {
                explanation.push_str(" No OK call of the method is in the capture to compare with.");
                false
            }
        };
        let advice = if shorter {
            "Raise the deadline for this method above its observed latency (with headroom for its p99), or make the \
             method faster; a deadline every call exceeds fails every call."
        } else {
            "Find what made these calls slow (the server's latency at that time, a proxy or queue in between, \
             retransmissions on the connection); if such latency is normal, raise the deadline."
        };
        out.push(Finding {
            rule: Rule::DeadlineExceeded,
            severity: Severity::Error,
            title: format!("{} to {method} exceeded the deadline", plural(n, "call", "calls")),
            evidence: ev.done(),
            explanation,
            advice: advice.into(),
            inference: false,
        });
    }
}

/// Whether the server side (or a reset) ended a connection, not its client.
fn ended_by_server(c: &ConnReport) -> bool {
    let goaway = c.h2.as_ref().is_some_and(|h| h.goaways.iter().any(|g| g.from == Side::Server));
    goaway || matches!(c.tcp.end, EndReason::Rst { .. } | EndReason::Fin { by: Side::Server, .. })
}

/// Channels whose connections the server side kept ending.
fn connection_churn(f: &Facts, out: &mut Vec<Finding>) {
    let (chans, reconnects) = channels::analyze(&f.conns);
    let by_id: BTreeMap<ConnId, &ConnReport> = f.conns.iter().map(|c| (c.tcp.id, c)).collect();
    for ch in chans {
        let mut ev = Collect::default();
        let mut causes: BTreeMap<String, u64> = BTreeMap::new();
        for id in &ch.conns {
            let Some(r) = reconnects.get(id) else { continue };
            let (Some(prev), Some(now)) = (by_id.get(&r.reconnect_of), by_id.get(id)) else { continue };
            // A refused attempt is not a connection (connect_failed tells
            // those), and a failed TLS handshake is told by its own rule.
            let tls_failed = prev.tls.as_ref().is_some_and(|t| t.fatal_alerts().next().is_some());
            if now.tcp.established && ended_by_server(prev) && !tls_failed {
                ev.ev.count += 1;
                ev.conn(r.reconnect_of);
                ev.conn(*id);
                for p in f.frames.get(&r.reconnect_of).map(|x| x.goaway_packets.as_slice()).unwrap_or(&[]) {
                    ev.packet(*p);
                }
                *causes.entry(r.previous_end.clone()).or_default() += 1;
            }
        }
        if ev.ev.count < CHURN_RECONNECTS {
            continue;
        }
        let n = ev.ev.count;
        let why: Vec<String> = causes.iter().map(|(c, k)| format!("{c} ({k}x)")).collect();
        let refused = if ch.failed_attempts > 0 {
            format!(" {} in between got no connection.", plural(ch.failed_attempts, "attempt", "attempts"))
        } else {
            String::new()
        };
        out.push(Finding {
            rule: Rule::ConnectionChurn,
            severity: Severity::Warning,
            title: format!("{} -> {}: the server side ended the connection {n} times", ch.client, ch.server),
            evidence: ev.done(),
            explanation: format!(
                "The channel from {} to {} had {} connections; {n} of them replaced one the server side had ended: \
                 {}.{refused} Every new connection costs a TCP (and TLS) handshake and an HTTP/2 preface, and calls \
                 in flight at a close fail with UNAVAILABLE.",
                ch.client,
                ch.server,
                ch.conns.len(),
                why.join("; ")
            ),
            advice: "If the server restarted (deploys, crashes, OOM kills), look at why; if a proxy or the server \
                     closes idle or aged connections on purpose (max_connection_age, idle timeouts), make sure it \
                     sends GOAWAY first and gives in-flight calls a grace period."
                .into(),
            inference: false,
        });
    }
}

/// What a GOAWAY ENHANCE_YOUR_CALM objected to, by its debug data: each
/// server words it its own way (grpc "too_many_pings", h2 "too_many_resets",
/// netty "Maximum number ... of outstanding control frames").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calm {
    /// Keepalive pings: too_many_pings.
    Pings,
    /// Stream resets: a rapid-reset defence (rapid_reset).
    Resets,
    /// Something else: a goaway_error naming the debug data.
    Other,
}

fn calm_reason(debug: &str) -> Calm {
    let d = debug.to_ascii_lowercase();
    if d.contains("ping") {
        Calm::Pings
    } else if d.contains("reset") || d.contains("rst") {
        Calm::Resets
    } else {
        Calm::Other
    }
}

/// The connection's GOAWAY ENHANCE_YOUR_CALM about resets, if it had one.
fn calm_about_resets(c: &ConnReport) -> Option<&crate::h2::GoAwayRecord> {
    c.h2.as_ref()?.goaways.iter().find(|g| g.error_code == ENHANCE_YOUR_CALM && calm_reason(&g.debug) == Calm::Resets)
}

/// Debug data fit for a title: its first 60 characters.
fn debug_excerpt(debug: &str) -> String {
    let mut s: String = debug.chars().take(60).collect();
    if debug.chars().count() > 60 {
        s.push('…');
    }
    s
}

/// GOAWAYs with an error: ENHANCE_YOUR_CALM about pings (too_many_pings),
/// and the others; those about resets are rapid_reset's.
fn goaways(f: &Facts, out: &mut Vec<Finding>) {
    let mut calm = Collect::default();
    let mut calm_pings = false;
    let mut other: BTreeMap<String, Collect> = BTreeMap::new();
    for c in &f.conns {
        let Some(h2) = &c.h2 else { continue };
        let packets = f.frames.get(&c.tcp.id).map(|x| x.goaway_packets.as_slice()).unwrap_or(&[]);
        for g in h2.goaways.iter().filter(|g| g.error_code != 0) {
            let calm_why = (g.error_code == ENHANCE_YOUR_CALM).then(|| calm_reason(&g.debug));
            let ev = match calm_why {
                Some(Calm::Pings) => {
                    calm_pings |= g.debug.contains("too_many_pings");
                    &mut calm
                }
                Some(Calm::Resets) => continue,
                Some(Calm::Other) => other
                    .entry(format!("{} by the {} (\"{}\")", g.error_name, g.from, debug_excerpt(&g.debug)))
                    .or_default(),
                None => other.entry(format!("{} by the {}", g.error_name, g.from)).or_default(),
            };
            ev.ev.count += 1;
            ev.conn(c.tcp.id);
            packets.iter().for_each(|p| ev.packet(*p));
        }
    }
    if calm.ev.count > 0 {
        let n = calm.ev.count;
        let (explanation, advice) = if calm_pings {
            (
                format!(
                    "The server closed {} with GOAWAY ENHANCE_YOUR_CALM and the debug data \"too_many_pings\": the \
                     client sent keepalive PINGs more often than the server permits (gRPC servers allow one every \
                     5 minutes by default, and none without calls unless configured), and calls in flight failed \
                     with UNAVAILABLE.",
                    plural(n, "connection", "connections")
                ),
                "Make the client's keepalive time (grpc.keepalive_time_ms, KeepaliveParams.Time) no shorter than \
                 the server's minimum ping interval (grpc.http2.min_ping_interval_without_data_ms, \
                 EnforcementPolicy.MinTime), or relax the server's policy to match the client; do not ping without \
                 calls unless the server permits it."
                    .to_string(),
            )
        } else {
            (
                format!(
                    "The server closed {} with GOAWAY ENHANCE_YOUR_CALM and debug data about pings: it judged the \
                     client's keepalive pings too frequent.",
                    plural(n, "connection", "connections")
                ),
                "Read the GOAWAY's debug data in `grpcscope frames` and the server's logs for which limit was hit, \
                 and change the client's behaviour or the server's limit."
                    .to_string(),
            )
        };
        out.push(Finding {
            rule: Rule::TooManyPings,
            severity: Severity::Error,
            title: format!("the server told the client to calm down (GOAWAY ENHANCE_YOUR_CALM) on {n} connection(s)"),
            evidence: calm.done(),
            explanation,
            advice,
            inference: false,
        });
    }
    for (what, ev) in other {
        let n = ev.ev.count;
        out.push(Finding {
            rule: Rule::GoawayError,
            severity: Severity::Warning,
            title: format!("GOAWAY {what} on {n} connection(s)"),
            evidence: ev.done(),
            explanation: format!(
                "A GOAWAY with an error code ({what}) ends a connection because of a protocol problem, not a \
                 graceful shutdown; streams above its last stream id were never processed."
            ),
            advice: "Look at the GOAWAY's debug data and the frames before it (`grpcscope frames --filter \
                     'conn == N'`): the error code names the rule of RFC 9113 that was broken."
                .into(),
            inference: false,
        });
    }
}

/// Connections the server already closed with too_many_pings (the
/// `too_many_pings` finding tells them).
fn calmed_about_pings(f: &Facts) -> Vec<ConnId> {
    let calm = |g: &crate::h2::GoAwayRecord| g.error_code == ENHANCE_YOUR_CALM && calm_reason(&g.debug) == Calm::Pings;
    f.conns.iter().filter(|c| c.h2.as_ref().is_some_and(|h| h.goaways.iter().any(calm))).map(|c| c.tcp.id).collect()
}

/// Keepalive pings that a server with gRPC's default enforcement would
/// punish: the finding before the GOAWAY, from a peer that tolerated them.
fn keepalive_too_frequent(f: &Facts, out: &mut Vec<Finding>) {
    use super::watch::{MIN_PING_INTERVAL_NANOS, PING_STRIKES_ALLOWED};
    let calmed = calmed_about_pings(f);
    let mut ids: Vec<ConnId> = f
        .frames
        .iter()
        .filter(|(id, x)| x.pings.fatal_packet.is_some() && !calmed.contains(id))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    let (mut ev, mut shortest, mut strikes) = (Collect::default(), i64::MAX, 0);
    for id in &ids {
        let Some(p) = f.frames.get(id).map(|x| &x.pings) else { continue };
        ev.ev.count += 1;
        ev.conn(*id);
        p.packets.iter().chain(&p.fatal_packet).for_each(|p| ev.packet(*p));
        shortest = shortest.min(p.shortest_nanos.unwrap_or(i64::MAX));
        strikes = strikes.max(p.most_strikes);
    }
    let n = ev.ev.count;
    if n == 0 {
        return;
    }
    let interval = human_duration(shortest);
    out.push(Finding {
        rule: Rule::KeepaliveTooFrequent,
        severity: Severity::Warning,
        title: format!(
            "keepalive pings {interval} apart on {}: a C-core or grpc-go server would close {} with too_many_pings",
            plural(n, "connection", "connections"),
            if n == 1 { "it" } else { "them" }
        ),
        evidence: ev.done(),
        explanation: format!(
            "The client sent PINGs as little as {interval} apart while the server sent no HEADERS or DATA, up to              {strikes} in a row. gRPC servers built on C-core (C++, Python, Ruby, PHP) and grpc-go accept one such              ping every {} minutes by default and count each earlier one as a strike; after {PING_STRIKES_ALLOWED} strikes              the next one makes them send GOAWAY ENHANCE_YOUR_CALM \"too_many_pings\" and close the connection,              failing its calls with UNAVAILABLE. This server let them pass; one with the default policy (a new              deployment, a proxy in between) will not. An inference from the timing of the pings and those              servers' documented defaults.",
            MIN_PING_INTERVAL_NANOS / 60_000_000_000
        ),
        advice: "Make the client's keepalive time at least 5 minutes (grpc.keepalive_time_ms, grpc-go's                  keepalive.ClientParameters.Time, tonic's http2_keep_alive_interval) and do not ping without calls                  (grpc.keepalive_permit_without_calls, tonic's keep_alive_while_idle), or relax the servers' policy                  to match (grpc.http2.min_ping_interval_without_data_ms, keepalive.EnforcementPolicy)."
            .into(),
        inference: true,
    });
}

/// A client resetting most of the streams it opens, by the hundred, or a
/// server that ended the connection saying the client reset too many.
fn rapid_reset(f: &Facts, out: &mut Vec<Finding>) {
    for c in &f.conns {
        let (Some(h2), Some(frames)) = (&c.h2, f.frames.get(&c.tcp.id)) else { continue };
        let resets = frames.resets.first().copied().unwrap_or(0);
        let pattern = resets >= RAPID_RESET_MIN && (resets as f64) >= RAPID_RESET_SHARE * h2.streams as f64;
        let calm = calm_about_resets(c);
        if !pattern && calm.is_none() {
            continue;
        }
        let mut ev = Collect::default();
        ev.ev.count = resets;
        ev.conn(c.tcp.id);
        frames.reset_packets.iter().for_each(|p| ev.packet(*p));
        let mut explanation =
            format!("The client {} opened streams and reset them with RST_STREAM {resets} times", c.tcp.client);
        if let Some(g) = calm {
            frames.goaway_packets.iter().for_each(|p| ev.packet(*p));
            explanation.push_str(&format!(
                ", and the server ended the connection with GOAWAY ENHANCE_YOUR_CALM (\"{}\"): its defence against \
                 the HTTP/2 Rapid Reset attack (CVE-2023-44487) judged the resets abusive, and calls in flight \
                 failed with UNAVAILABLE.",
                debug_excerpt(&g.debug)
            ));
        } else {
            explanation.push_str(
                ": the pattern of the HTTP/2 Rapid Reset attack (CVE-2023-44487), where each stream costs the server \
                 work and the reset frees the client's concurrency slot at once.",
            );
        }
        explanation.push_str(
            " A client cancelling many calls (a fan-out whose first answer wins) looks the same on the wire.",
        );
        let title = match calm {
            Some(_) => format!(
                "conn {}: the server closed it for too many resets (GOAWAY ENHANCE_YOUR_CALM) after {resets} from the client",
                c.tcp.id
            ),
            None => format!("conn {}: the client reset {resets} of its {} streams", c.tcp.id, h2.streams),
        };
        out.push(Finding {
            rule: Rule::RapidReset,
            severity: Severity::Error,
            title,
            evidence: ev.done(),
            explanation,
            advice: "If this client is not yours, block it and make sure the server limits resets per connection \
                     (recent grpc and Envoy versions do); if it is, check why it cancels so many calls, or raise the \
                     server's reset limit."
                .into(),
            // The server's own words are a fact; the count alone is a pattern.
            inference: calm.is_none(),
        });
    }
}

/// Names the calls of `streams` on `conn` as evidence (their count is set
/// after); `pos` is made on first use, as few connections have findings.
fn streams_as_calls(
    f: &Facts,
    pos: &mut Option<ahash::AHashMap<(ConnId, u32), usize>>,
    conn: ConnId,
    streams: &[u32],
    ev: &mut Collect,
) {
    let pos = pos.get_or_insert_with(|| positions(&f.calls));
    for &sid in streams {
        let Some(&i) = pos.get(&(conn, sid)) else { continue };
        if let Some(c) = f.calls.get(i) {
            ev.call(i, c);
        }
    }
}

/// Calls waiting for a stream: the server's MAX_CONCURRENT_STREAMS was reached.
fn stream_limit(f: &Facts, out: &mut Vec<Finding>) {
    let mut pos = None;
    for c in &f.conns {
        let Some(frames) = f.frames.get(&c.tcp.id) else { continue };
        let w = &frames.stream_limit;
        let Some(limit) = w.limit else { continue };
        if w.reached == 0 || w.queued < STREAM_LIMIT_QUEUED {
            continue;
        }
        let mut ev = Collect::default();
        streams_as_calls(f, &mut pos, c.tcp.id, &w.queued_streams, &mut ev);
        ev.ev.count = w.queued;
        ev.conn(c.tcp.id);
        w.packets.iter().for_each(|p| ev.packet(*p));
        out.push(Finding {
            rule: Rule::StreamLimit,
            severity: Severity::Warning,
            title: format!(
                "conn {}: calls waited for a stream: {limit} open, the server's limit, for {}",
                c.tcp.id,
                human_duration(w.nanos_at_limit)
            ),
            evidence: ev.done(),
            explanation: format!(
                "The server {} allows {limit} concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS) and the client \
                 {} had that many open {}, {} in all; {} opened within {} of a stream closing at the limit, \
                 the sign of calls queued in the client until a stream was free. Their latency includes that wait, \
                 which no server-side metric shows. (That they waited is inferred from the timing.)",
                c.tcp.server,
                c.tcp.client,
                plural(w.reached, "time", "times"),
                human_duration(w.nanos_at_limit),
                plural(w.queued, "call", "calls"),
                human_duration(super::watch::QUEUED_WITHIN_NANOS),
            ),
            advice: "Raise the server's limit (tonic `Server::builder().max_concurrent_streams(n)`, grpc-go \
                     `grpc.MaxConcurrentStreams(n)`, C-core `grpc.max_concurrent_streams`), spread calls over more \
                     connections (a channel pool, or L7 balancing over more backends), or find the long calls that \
                     hold the streams."
                .into(),
            inference: true,
        });
    }
}

/// Senders that waited at a zero flow-control window, per connection and direction.
fn flow_control_stall(f: &Facts, out: &mut Vec<Finding>) {
    let mut pos = None;
    for c in &f.conns {
        let Some(frames) = f.frames.get(&c.tcp.id) else { continue };
        let w = &frames.stalls;
        for dir in [crate::tcp::Dir::ToServer, crate::tcp::Dir::ToClient] {
            let i = dir.index();
            let (Some(&n), Some(&lost), Some(&longest)) = (w.stalls.get(i), w.nanos.get(i), w.longest.get(i)) else {
                continue;
            };
            if n == 0 || lost < STALL_TOTAL_NANOS {
                continue;
            }
            let conn_level = w.connection_stalls.get(i).copied().unwrap_or(0);
            let mut ev = Collect::default();
            streams_as_calls(f, &mut pos, c.tcp.id, w.streams.get(i).map_or(&[], |s| s.as_slice()), &mut ev);
            ev.ev.count = n;
            ev.conn(c.tcp.id);
            w.packets.get(i).into_iter().flatten().for_each(|p| ev.packet(*p));
            let (sender, receiver) = match dir.sender() {
                Side::Client => ("client", "server"),
                Side::Server => ("server", "client"),
            };
            let window = match conn_level {
                0 => "its stream windows".to_string(),
                k if k == n => "the connection's window".to_string(),
                k => format!("its stream windows ({k} of them the connection's)"),
            };
            out.push(Finding {
                rule: Rule::FlowControlStall,
                severity: Severity::Warning,
                title: format!(
                    "conn {}: the {sender} waited {} for flow-control window ({}, longest {})",
                    c.tcp.id,
                    human_duration(lost),
                    plural(n, "stall", "stalls"),
                    human_duration(longest)
                ),
                evidence: ev.done(),
                explanation: format!(
                    "{} times the {sender} sent DATA until {window} reached zero, then sent nothing until the \
                     {receiver}'s WINDOW_UPDATE, and went on at once: it had more to send and lost {} in all \
                     waiting. HTTP/2 flow control lets the receiver pace the sender; the {receiver} gives credit \
                     back only as its application reads, so either the {receiver}'s application reads slowly or the \
                     windows are too small for the data in flight.",
                    n,
                    human_duration(lost)
                ),
                advice: format!(
                    "If the {receiver} reads slowly on purpose (backpressure), nothing is wrong. Otherwise give the \
                     {receiver} larger windows: tonic `initial_stream_window_size` / `initial_connection_window_size` \
                     or `http2_adaptive_window(true)`, grpc-go `grpc.WithInitialWindowSize` / \
                     `grpc.InitialWindowSize` (setting them turns off its BDP estimation), grpc-java \
                     `flowControlWindow`; and check what stops its application from reading."
                ),
                inference: false,
            });
        }
    }
}

/// Failed TLS handshakes, grouped by server and cause.
fn tls_handshake_failed(f: &Facts, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(SocketAddr, String), (Collect, bool)> = BTreeMap::new();
    for c in &f.conns {
        let Some(tls) = &c.tls else { continue };
        let alerts: Vec<String> =
            tls.fatal_alerts().map(|a| format!("the {} sent alert {}", a.from, a.description)).collect();
        let (cause, inferred) = match alerts.first() {
            Some(_) => (alerts.join(", "), false),
            None => match tls
                .probable_rejection()
                .map(str::to_string)
                .or_else(|| c.tcp.end.is_closed().then(|| tls.probable_tls13_failure()).flatten())
            {
                Some(p) => (p, true),
                None => continue,
            },
        };
        let entry = groups.entry((c.tcp.server, cause)).or_insert_with(|| (Collect::default(), inferred));
        entry.0.ev.count += 1;
        entry.0.conn(c.tcp.id);
    }
    for ((server, cause), (ev, inferred)) in groups {
        let n = ev.ev.count;
        let advice = tls_advice(&cause);
        out.push(Finding {
            rule: Rule::TlsHandshakeFailed,
            severity: Severity::Error,
            title: format!("{} to {server} failed: {cause}", plural(n, "TLS handshake", "TLS handshakes")),
            evidence: ev.done(),
            explanation: format!(
                "{} to {server} ended in the TLS handshake ({cause}{}), before any gRPC call could be sent: the client \
                 sees UNAVAILABLE, and the server's gRPC layer never sees the call.",
                plural(n, "connection", "connections"),
                if inferred { "; inferred from the handshake's shape, no alert was seen" } else { "" }
            ),
            advice: advice.into(),
            inference: inferred,
        });
    }
}

fn tls_advice(cause: &str) -> &'static str {
    if cause.contains("certificate_required") {
        "The server requires a client certificate (mTLS) and the client presented none: give the client its \
         certificate (in a mesh, check that the client's sidecar is injected and its mTLS mode matches the server's)."
    } else if cause.contains("unknown_ca") || cause.contains("bad_certificate") {
        "One side does not trust the other's certificate chain: give it the CA that issued the peer's certificate \
         (in a mesh, check that both sides use the same trust domain and root)."
    } else if cause.contains("certificate_expired") {
        "A certificate in the chain expired: renew it (and check the clock of the side that refused it)."
    } else {
        "Compare the two sides' TLS settings (versions, cipher suites, ALPN, SNI, certificates) with `grpcscope \
         conns -v` and the side's logs."
    }
}

/// TLS connections that carried data nobody could decrypt.
fn tls_not_decrypted(f: &Facts, out: &mut Vec<Finding>) {
    let mut ev = Collect::default();
    // A call starts with the client's request: a connection whose client
    // sent no application data (a proxy hanging up after the handshake)
    // hid none.
    let hid_calls = |t: &crate::tls::TlsSummary| t.undecrypted() && t.app_records.first().is_some_and(|n| *n > 0);
    for c in f.conns.iter().filter(|c| c.tls.as_deref().is_some_and(hid_calls)) {
        ev.ev.count += 1;
        ev.conn(c.tcp.id);
    }
    if ev.ev.count == 0 {
        return;
    }
    let n = ev.ev.count;
    out.push(Finding {
        rule: Rule::TlsNotDecrypted,
        severity: Severity::Info,
        title: format!("{} encrypted, no keys: their calls are not analysed", plural(n, "connection", "connections")),
        evidence: ev.done(),
        explanation: format!(
            "{} carried TLS application data without a key to decrypt it, so the calls on them are missing from \
             every other finding: none of them can be said to have succeeded or failed.",
            plural(n, "connection", "connections")
        ),
        advice: "Pass the peers' key log with --tls-keylog FILE (or SSLKEYLOGFILE), or capture a pcapng with its \
                 keys injected (docs/tls.md says how to get a key log from each peer)."
            .into(),
        inference: false,
    });
}

/// UNIMPLEMENTED from the application, per method (not those about compression).
fn unimplemented(f: &Facts, out: &mut Vec<Finding>) {
    let groups = by_key(&f.calls, |c| {
        (c.status == Some("UNIMPLEMENTED") && c.origin == Origin::Application && !c.about_compression)
            .then(|| (method_name(c), c.server))
    });
    for ((method, server), idx) in groups {
        let ev = Collect::calls(f, &idx);
        let n = ev.ev.count;
        out.push(Finding {
            rule: Rule::Unimplemented,
            severity: Severity::Error,
            title: format!("{server} does not implement {method} ({})", plural(n, "call", "calls")),
            evidence: ev.done(),
            explanation: format!(
                "The server at {server} answered {} to {method} with UNIMPLEMENTED: it has no such method or \
                 service. That is version skew (a client built against a newer schema than the server runs, or a \
                 route to the wrong backend), or a wrong package or service name.",
                plural(n, "call", "calls")
            ),
            advice: "Compare the method's full name with the server's schema (`grpcurl -plaintext HOST:PORT list`, \
                     or grpcscope's --reflect), deploy the server version that has it, or fix the route."
                .into(),
            inference: false,
        });
    }
}

/// Calls refused because of their compression.
fn compression_rejected(f: &Facts, out: &mut Vec<Finding>) {
    let groups = by_key(&f.calls, |c| {
        (c.about_compression && matches!(c.status, Some("UNIMPLEMENTED" | "INTERNAL"))).then(|| method_name(c))
    });
    for (method, idx) in groups {
        let ev = Collect::calls(f, &idx);
        let n = ev.ev.count;
        out.push(Finding {
            rule: Rule::CompressionRejected,
            severity: Severity::Error,
            title: format!("{} to {method} refused for their compression", plural(n, "call", "calls")),
            evidence: ev.done(),
            explanation: "The peer answered with an error whose message is about the message encoding: it does not \
                          support the grpc-encoding the sender used (the server lists what it accepts in \
                          grpc-accept-encoding)."
                .into(),
            advice: "Use a compression both sides support (gzip is the one every gRPC implementation has), or enable \
                     the codec on the receiving side."
                .into(),
            inference: false,
        });
    }
}

/// Messages near the 4 MiB default, and calls refused for size.
fn large_messages(f: &Facts, out: &mut Vec<Finding>) {
    let mut near = Collect::default();
    let mut refused = Collect::default();
    let mut largest = 0u32;
    for (i, c) in f.calls.iter().enumerate() {
        let big = c.largest.iter().copied().max().unwrap_or(0);
        // C-core, grpc-go and grpc-java say RESOURCE_EXHAUSTED; tonic OUT_OF_RANGE.
        if c.about_size && matches!(c.status, Some("RESOURCE_EXHAUSTED" | "OUT_OF_RANGE")) {
            refused.call(i, c);
        } else if big >= NEAR_LIMIT_BYTES {
            near.call(i, c);
            largest = largest.max(big);
        }
    }
    if refused.ev.count > 0 {
        out.push(Finding {
            rule: Rule::LargeMessages,
            severity: Severity::Error,
            title: format!("{} refused a message as too large", plural(refused.ev.count, "call", "calls")),
            evidence: refused.done(),
            explanation: "These calls ended with RESOURCE_EXHAUSTED (OUT_OF_RANGE from tonic) and a message saying \
                          a message was larger than the receiver's maximum (4 MiB by default in gRPC)."
                .into(),
            advice: "Raise the receiver's maximum message size (MaxRecvMsgSize, grpc.max_receive_message_length, \
                     tonic's max_decoding_message_size) where such messages are expected, or split the payload (a stream of chunks)."
                .into(),
            inference: false,
        });
    }
    if near.ev.count > 0 {
        out.push(Finding {
            rule: Rule::LargeMessages,
            severity: Severity::Warning,
            title: format!(
                "{} carried messages near the 4 MiB default limit (largest {} bytes)",
                plural(near.ev.count, "call", "calls"),
                largest
            ),
            evidence: near.done(),
            explanation: format!(
                "Messages of {NEAR_LIMIT_BYTES} bytes or more are within half a MiB of gRPC's default maximum \
                 receive size; a slightly larger one will be refused with RESOURCE_EXHAUSTED."
            ),
            advice: "Raise the maximum on both sides deliberately, or split large payloads into a stream.".into(),
            inference: false,
        });
    }
}

/// Retried calls, by method, when they are many.
fn retries(f: &Facts, out: &mut Vec<Finding>) {
    if !f.calls.iter().any(|c| c.previous_attempts.is_some_and(|n| n > 0)) {
        return;
    }
    let all = by_key(&f.calls, |c| Some(method_name(c)));
    for (method, idx) in all {
        let retried: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| f.calls.get(i).is_some_and(|c| c.previous_attempts.is_some_and(|n| n > 0)))
            .collect();
        let share = retried.len() as f64 / idx.len().max(1) as f64;
        if (retried.len() as u64) < RETRIES_MIN || share < RETRIES_SHARE {
            continue;
        }
        let mut ev = Collect::default();
        for &i in &retried {
            if let Some(c) = f.calls.get(i) {
                ev.call(i, c);
            }
        }
        let n = ev.ev.count;
        out.push(Finding {
            rule: Rule::Retries,
            severity: Severity::Warning,
            title: format!("{n} calls to {method} were retries ({:.0}% of its calls)", share * 100.0),
            evidence: ev.done(),
            explanation: format!(
                "{n} of the {} calls to {method} carried grpc-previous-rpc-attempts: the client's retry policy sent \
                 them again after a failure. Retries multiply the load on a server that is already failing.",
                idx.len()
            ),
            advice: "Look at why the first attempts failed (the other findings), and make sure the retry policy has \
                     a budget (retryThrottling) and backoff."
                .into(),
            inference: false,
        });
    }
}

/// The gRPC service of a method (`/pkg.Service/Method`).
fn service_of(method: &str) -> Option<&str> {
    let (service, _) = method.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty()).then_some(service)
}

/// One replica of a service: its calls and the connections they rode.
#[derive(Default)]
struct Replica {
    calls: u64,
    conns: std::collections::BTreeSet<ConnId>,
}

/// Replicas of each service, by (service, port): the hosts serving it on
/// one port, as a Kubernetes Service's pods do. A host that answered a
/// SYN on that port and served no calls (a balancer's health checks, an
/// idle channel) is a replica that got none.
fn replicas(f: &Facts) -> BTreeMap<(String, u16), BTreeMap<std::net::IpAddr, Replica>> {
    let mut groups: BTreeMap<(String, u16), BTreeMap<std::net::IpAddr, Replica>> = BTreeMap::new();
    for c in &f.calls {
        let Some(service) = c.method.as_deref().and_then(service_of) else { continue };
        let r = groups.entry((service.to_string(), c.server.port())).or_default().entry(c.server.ip()).or_default();
        r.calls += 1;
        r.conns.insert(c.conn);
    }
    for ((_, port), hosts) in &mut groups {
        for conn in f.conns.iter().filter(|c| c.tcp.synack_ts.is_some() && c.tcp.server.port() == *port) {
            if !hosts.contains_key(&conn.tcp.server.ip()) && conn.calls.total == 0 {
                hosts.entry(conn.tcp.server.ip()).or_default().conns.insert(conn.tcp.id);
            }
        }
    }
    groups
}

/// A service whose replicas got very different shares of its calls, which
/// rode long-lived connections: balancing per connection (L4), not per call.
fn l4_balancing(f: &Facts, out: &mut Vec<Finding>) {
    for ((service, port), hosts) in replicas(f) {
        let total: u64 = hosts.values().map(|r| r.calls).sum();
        let carrying: u64 = hosts.values().filter(|r| r.calls > 0).map(|r| r.conns.len() as u64).sum();
        let busiest = hosts.values().map(|r| r.calls).max().unwrap_or(0);
        let idlest = hosts.values().map(|r| r.calls).min().unwrap_or(0);
        let unbalanced = busiest >= L4_SKEW * idlest && busiest - idlest >= L4_MIN_GAP;
        if hosts.len() < 2 || total < L4_MIN_CALLS || total < L4_CALLS_PER_CONN * carrying.max(1) || !unbalanced {
            continue;
        }
        let mut ev = Collect::default();
        ev.ev.count = total;
        let mut shares: Vec<(&std::net::IpAddr, &Replica)> = hosts.iter().collect();
        shares.sort_by_key(|(ip, r)| (std::cmp::Reverse(r.calls), **ip));
        let told: Vec<String> = shares
            .iter()
            .map(|(ip, r)| {
                r.conns.iter().for_each(|c| ev.conn(*c));
                let over = if r.calls > 0 {
                    format!(" over {}", plural(r.conns.len() as u64, "connection", "connections"))
                } else {
                    String::new()
                };
                format!("{}: {}{over}", host_text(f, **ip), plural(r.calls, "call", "calls"))
            })
            .collect();
        let counts: Vec<String> = shares.iter().map(|(_, r)| r.calls.to_string()).collect();
        out.push(Finding {
            rule: Rule::L4Balancing,
            severity: Severity::Warning,
            title: format!(
                "{service} on port {port}: {} replicas got {} calls; connections, not calls, were balanced",
                hosts.len(),
                counts.join(", ")
            ),
            evidence: ev.done(),
            explanation: format!(
                "The {total} calls to {service} rode {}, about {} calls each, and each replica's share is the                  share of the connections that happened to land on it ({}). That is what a balancer that picks a                  backend per connection does (L4: a Kubernetes ClusterIP Service through kube-proxy or IPVS, a                  cloud network load balancer, HAProxy in mode tcp): gRPC keeps a channel's HTTP/2 connection open                  and sends every call on it, so one busy client pins its load to one replica while others stay                  idle. An inference from how the calls are spread; the balancer itself is not on the wire.",
                plural(carrying, "connection", "connections"),
                total / carrying.max(1),
                told.join("; ")
            ),
            advice: "Balance per call: a headless Service with the client's round_robin policy (target                      dns:///NAME.NAMESPACE.svc.cluster.local, loadBalancingConfig round_robin), a service mesh                      (Envoy, Linkerd, Istio) or an L7 proxy (HAProxy mode http with proto h2, nginx grpc_pass).                      Limiting connection age on the servers (grpc.max_connection_age_ms, grpc-go's                      MaxConnectionAge) makes clients reconnect and spread, but only on average."
                .into(),
            inference: true,
        });
    }
}

/// Connections with many retransmitted segments.
fn retransmissions(f: &Facts, out: &mut Vec<Finding>) {
    for c in &f.conns {
        let retrans: u64 = c.tcp.dirs.iter().map(|d| u64::from(d.retransmitted)).sum();
        let packets: u64 = c.tcp.dirs.iter().map(|d| d.packets).sum();
        if retrans < RETRANSMIT_MIN || (retrans as f64) < RETRANSMIT_SHARE * packets as f64 {
            continue;
        }
        let mut ev = Collect::default();
        ev.ev.count = retrans;
        ev.conn(c.tcp.id);
        out.push(Finding {
            rule: Rule::Retransmissions,
            severity: Severity::Warning,
            title: format!(
                "conn {} ({} -> {}): {retrans} of {packets} segments retransmitted",
                c.tcp.id, c.tcp.client, c.tcp.server
            ),
            evidence: ev.done(),
            explanation: format!(
                "{:.1}% of this connection's segments were sent again: packets were lost (or delayed) between the \
                 capture point and a peer, and every loss costs the calls on the connection at least a round trip.",
                100.0 * retrans as f64 / packets.max(1) as f64
            ),
            advice: "Check the path between the two hosts (interface errors, a saturated link, a node under memory \
                     or CPU pressure dropping packets)."
                .into(),
            inference: false,
        });
    }
}

/// Handshakes that took long.
fn slow_handshake(f: &Facts, out: &mut Vec<Finding>) {
    for c in &f.conns {
        let tcp = c.tcp.synack_ts.zip(c.tcp.syn_ts).map(|(a, s)| a.nanos_since(s));
        let tls = c.tls.as_ref().and_then(|t| t.handshake_seconds);
        let slow_tcp = tcp.filter(|n| *n >= SLOW_TCP_HANDSHAKE_NANOS);
        let slow_tls = tls.filter(|s| *s >= SLOW_TLS_HANDSHAKE_SECONDS);
        let what = match (slow_tcp, slow_tls) {
            (Some(n), _) => format!(
                "the server's SYN-ACK came {} after the SYN: a SYN or SYN-ACK was lost and sent again",
                human_duration(n)
            ),
            (None, Some(s)) => format!("the TLS handshake took {}", human_duration((s * 1e9) as i64)),
            (None, None) => continue,
        };
        let mut ev = Collect::default();
        ev.ev.count = 1;
        ev.conn(c.tcp.id);
        out.push(Finding {
            rule: Rule::SlowHandshake,
            severity: Severity::Warning,
            title: format!("conn {} ({} -> {}): slow handshake", c.tcp.id, c.tcp.client, c.tcp.server),
            evidence: ev.done(),
            explanation: format!("On this connection {what}; the first call waited for it."),
            advice: "A lost SYN points at the network or a full accept queue on the server (its listen backlog); a \
                     slow TLS handshake at the server's CPU or a certificate check (OCSP, a remote key)."
                .into(),
            inference: false,
        });
    }
}

/// Calls whose outcome is not in the capture: never claim "no errors" over them.
fn status_lost(f: &Facts, out: &mut Vec<Finding>) {
    let mut ev = Collect::default();
    let (mut unknown, mut open) = (0u64, 0u64);
    for (i, c) in f.calls.iter().enumerate() {
        if c.incomplete {
            open += 1;
            ev.call(i, c);
        } else if c.origin == Origin::Unknown {
            unknown += 1;
            ev.call(i, c);
        }
    }
    let gaps: u64 = f.conns.iter().map(|c| c.tcp.dirs.iter().map(|d| u64::from(d.gaps)).sum::<u64>()).sum();
    if ev.ev.count == 0 {
        return;
    }
    let mut explanation = format!(
        "The outcome of {} is not in the capture: {} still open when it ended, {} whose status could not be read \
         (bytes lost, or header fields that refer to HPACK entries the capture never showed).",
        plural(ev.ev.count, "call", "calls"),
        open,
        unknown
    );
    if gaps > 0 {
        explanation.push_str(&format!(" The capture lost TCP bytes in {} places.", gaps));
    }
    explanation.push_str(" Findings above cover only the calls whose outcome was seen.");
    out.push(Finding {
        rule: Rule::StatusLost,
        severity: Severity::Info,
        title: format!("{} without a known outcome", plural(ev.ev.count, "call", "calls")),
        evidence: ev.done(),
        explanation,
        advice: "Capture for longer (start before the calls and stop after they end), with a larger snap length and \
                 buffer (-s 0 -B 4096 in tcpdump) so no packet is lost."
            .into(),
        inference: false,
    });
}

/// TCP bytes never captured: whatever they carried is not in any finding.
fn capture_loss(f: &Facts, out: &mut Vec<Finding>) {
    let mut ev = Collect::default();
    let (mut gaps, mut bytes) = (0u64, 0u64);
    for c in &f.conns {
        let (g, b) = c.tcp.dirs.iter().fold((0, 0), |(g, b), d| (g + u64::from(d.gaps), b + d.gap_bytes));
        if g > 0 {
            gaps += g;
            bytes += b;
            ev.ev.count += 1;
            ev.conn(c.tcp.id);
        }
    }
    if gaps == 0 {
        return;
    }
    out.push(Finding {
        rule: Rule::CaptureLoss,
        severity: Severity::Info,
        title: format!(
            "the capture lost {bytes} TCP bytes in {} on {}",
            plural(gaps, "gap", "gaps"),
            plural(ev.ev.count, "connection", "connections")
        ),
        evidence: ev.done(),
        explanation: format!(
            "{} never reached the capture (the kernel or the capture buffer dropped them, or the capture began or \
             ended inside a segment): the frames and messages they carried are marked incomplete and their \
             content is not analysed. A gap that no retransmission fills was lost by the capture, not by the \
             network.",
            plural(bytes, "byte", "bytes")
        ),
        advice: "Capture with a larger buffer and the full snap length (tcpdump -B 4096 -s 0), write to a fast \
                 disk, or filter to the ports that matter so fewer packets compete for the buffer."
            .into(),
        inference: false,
    });
}

/// What the doctor's memory caps left out.
fn not_analysed(f: &Facts, out: &mut Vec<Finding>) {
    if f.calls_dropped == 0 && f.conns_dropped == 0 {
        return;
    }
    out.push(Finding {
        rule: Rule::NotAnalysed,
        severity: Severity::Info,
        title: format!(
            "{} calls and {} connections past the doctor's limits were not analysed",
            f.calls_dropped, f.conns_dropped
        ),
        evidence: Evidence { count: f.calls_dropped + f.conns_dropped, ..Evidence::default() },
        explanation: format!(
            "The doctor keeps a compact record of at most {} calls and {} connections; the rest of the capture was \
             decoded but not analysed.",
            super::MAX_CALLS,
            super::MAX_CONNS
        ),
        advice: "Split the capture (editcap -c, or -Y/--filter on a time range) and run doctor on each part.".into(),
        inference: false,
    });
}
