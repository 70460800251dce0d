//! Cross-hop correlation: when a capture holds several legs of one proxied
//! call (client → sidecar/proxy → server), pair them and say which hop
//! failed first and how the status changed on the way back.
//!
//! Legs are paired by a request id the proxies forward (`x-request-id`, the
//! W3C `traceparent` trace id, B3's trace id); without one, by method and
//! identical first request message within a short window.

use crate::analysis::method_names::MethodNames;
use crate::analysis::pipeline::ConnReport;
use crate::chain::EndpointNames;
use crate::grpc::{Call, Origin, TransportKind};
use crate::tcp::{ConnId, EndReason, Side};
use crate::time::Timestamp;
use ahash::AHashMap;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

/// Legs without a request id pair when they start this close together.
const WINDOW_NANOS: i64 = 2_000_000_000;
/// Later legs with the same method and request examined per leg: a burst of
/// identical requests is long, the legs of one call are few.
const MAX_CANDIDATES: usize = 64;
/// Legs remembered at most (oldest forgotten first).
const MAX_LEGS: usize = 200_000;

/// One leg of a call as seen on one connection.
#[derive(Debug, Clone, Serialize)]
pub struct Leg {
    /// Connection.
    pub conn: ConnId,
    /// Stream.
    pub stream_id: u32,
    /// Client of this leg.
    pub client: SocketAddr,
    /// Server of this leg.
    pub server: SocketAddr,
    /// Method (shared by the legs of one method).
    pub method: Option<Arc<str>>,
    /// Start.
    pub start: Timestamp,
    /// When it ended or failed.
    pub end: Option<Timestamp>,
    /// Status name (effective).
    pub status: Option<&'static str>,
    /// Where a failure came from.
    pub origin: Origin,
    /// The failure in words.
    pub detail: Option<String>,
    /// Which side of this leg initiated the failure (the server answering
    /// with an error, or the client cancelling / closing).
    pub initiated_by: Option<Side>,
    /// The deadline this leg's client set (`grpc-timeout`), in nanoseconds.
    pub deadline_nanos: Option<u64>,
    /// The packet of the frame that shows how the leg ended (its last
    /// header block: trailers, an error answer), 0 when none was seen.
    pub packet: u64,
    /// Which attempt of its hop this leg is: a leg to a server the call
    /// already reached is the client retrying that hop, not another hop.
    pub attempt: u32,
    /// `grpc-previous-rpc-attempts`, when the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_attempts: Option<u32>,
    /// The names of this leg's client and server hosts, when known.
    pub names: EndpointNames,
    /// `:status`, when not 200.
    #[serde(skip)]
    http_status: Option<u16>,
    /// The status message says a message was too large.
    #[serde(skip)]
    about_size: bool,
    /// Response messages the leg carried before it ended.
    #[serde(skip)]
    responses: usize,
    #[serde(skip)]
    key: Option<String>,
    #[serde(skip)]
    fingerprint: Option<u64>,
}

impl Leg {
    /// The client's address, with its host's name when known.
    pub fn client_text(&self) -> String {
        named(self.client, self.names.client.as_deref())
    }

    /// The server's address, with its host's name when known.
    pub fn server_text(&self) -> String {
        named(self.server, self.names.server.as_deref())
    }

    fn failed(&self) -> bool {
        matches!(self.origin, Origin::Application | Origin::Transport)
    }

    /// Start to end, when the end was seen.
    fn duration(&self) -> Option<i64> {
        self.end.map(|e| e.nanos_since(self.start))
    }

    /// The leg ended because its deadline expired: DEADLINE_EXCEEDED, or a
    /// cancellation (a client's RST_STREAM, a server's "Timeout expired")
    /// at the deadline, within [`DEADLINE_SLACK`].
    fn hit_its_deadline(&self) -> bool {
        let (Some(d), Some(took)) = (self.deadline_nanos, self.duration()) else { return false };
        let at_deadline = took as f64 >= (d as f64) * DEADLINE_SLACK;
        at_deadline && matches!(self.status, Some("DEADLINE_EXCEEDED" | "CANCELLED"))
    }
}

/// A leg that ended at this fraction of its deadline or later ended because of it.
const DEADLINE_SLACK: f64 = 0.95;

/// Why a call failed, in the classes an SRE acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A server chose the error status.
    Application,
    /// A proxy could not reach its upstream (a refused or unanswered
    /// connection, or its 502/503).
    UpstreamRefused,
    /// The upstream reset the stream or dropped the connection.
    UpstreamReset,
    /// A proxy gave up waiting for an answer (its 504, or it closed or reset
    /// the upstream leg before any answer came).
    UpstreamTimeout,
    /// A proxy gave up on a stream that had been answering and then went
    /// quiet (a read or idle timeout between messages).
    IdleTimeout,
    /// A message over a limit (HTTP 413, or RESOURCE_EXHAUSTED saying a
    /// message was too large).
    RequestTooLarge,
    /// A proxy's TLS handshake with its upstream failed (a fatal alert).
    TlsFailure,
    /// A client's deadline (`grpc-timeout`) expired, on whichever hop
    /// noticed first.
    ClientDeadline,
    /// A client cancelled before any deadline.
    ClientCancel,
}

impl Cause {
    /// In words, for text output.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Application => "application",
            Cause::UpstreamRefused => "upstream refused",
            Cause::UpstreamReset => "upstream reset",
            Cause::UpstreamTimeout => "upstream timeout",
            Cause::IdleTimeout => "idle timeout",
            Cause::RequestTooLarge => "request too large",
            Cause::TlsFailure => "TLS failure",
            Cause::ClientDeadline => "client deadline",
            Cause::ClientCancel => "client cancel",
        }
    }
}

/// A failed call followed across its hops.
#[derive(Debug, Clone, Serialize)]
pub struct HopReport {
    /// What paired the legs: the request id, or `method+request`.
    pub paired_by: String,
    /// The legs, client side first: the last attempt of each hop.
    pub legs: Vec<Leg>,
    /// Earlier attempts of a hop, retried by its client (to the same
    /// server, on the same or a new connection), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retried: Vec<Leg>,
    /// Index of the leg that failed first.
    pub failed_first: usize,
    /// A connection attempt of the proxy that failed, when that is the cause.
    pub refused_upstream: Option<RefusedAttempt>,
    /// Why it failed.
    pub cause: Cause,
    /// Packets of the frames that show it: each leg's last header block,
    /// and the refused attempt's first packet when there is one.
    pub packets: Vec<u64>,
    /// The story in a sentence.
    pub summary: String,
}

/// A connection attempt that got no connection, or no TLS session.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedAttempt {
    /// Its connection id.
    pub conn: ConnId,
    /// Who tried.
    pub client: SocketAddr,
    /// Where to.
    pub server: SocketAddr,
    /// When.
    pub ts: Timestamp,
    /// Refused (RST) or unanswered.
    pub refused: bool,
    /// The TCP connection was made but its TLS handshake failed: who sent
    /// which fatal alert (`server sent handshake_failure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_alert: Option<String>,
    /// That TLS failure is inferred (no alert was on the wire).
    #[serde(skip)]
    pub tls_inferred: bool,
}

impl RefusedAttempt {
    /// What became of it, in words: `connection refused`, `TLS handshake
    /// failed (client sent unknown_ca)`.
    pub fn failure(&self) -> String {
        match &self.tls_alert {
            Some(alert) => format!("TLS handshake failed ({alert})"),
            None if self.refused => "connection refused".into(),
            None => "connection never answered".into(),
        }
    }
}

/// Why a TLS connection gave no session, in words: its fatal alert; or,
/// with no alert on the wire, a client that hung up right after the
/// handshake without sending a byte of application data (nginx checks an
/// upstream's certificate after the handshake and resets the connection
/// when it fails), marked as the inference it is. The flag says which.
fn tls_failure(c: &ConnReport, t: &crate::tls::TlsSummary) -> Option<(String, bool)> {
    if let Some(a) = t.fatal_alerts().next() {
        return Some((format!("{} sent {}", a.from, a.description), false));
    }
    let client_hung_up =
        matches!(c.tcp.end, EndReason::Rst { by: Side::Client }) || c.tcp.first_fin == Some(Side::Client);
    let silent_client = t.version.is_some() && t.app_records.first().is_some_and(|n| *n == 0);
    let why = "no alert: the client hung up right after the handshake without sending a request, as a proxy does \
               when the upstream's certificate fails its check; an inference";
    (client_hung_up && silent_client).then(|| (why.to_string(), true))
}

/// `10.0.0.7:443 (nginx-ingress)`, or the address alone without a name.
pub fn named(addr: SocketAddr, name: Option<&crate::names::Name>) -> String {
    match name {
        Some(n) => format!("{addr} ({})", n.label()),
        None => addr.to_string(),
    }
}

/// Collects legs and failed connection attempts.
#[derive(Debug, Default)]
pub struct Hops {
    legs: VecDeque<Leg>,
    attempts: Vec<RefusedAttempt>,
    /// When the client of a connection closed or reset it (a proxy giving
    /// up on its upstream), for statuses written after that.
    closed_by_client: AHashMap<ConnId, Timestamp>,
    /// The names of each connection's ends, where known.
    names: AHashMap<ConnId, EndpointNames>,
    /// Method names, one allocation each however many calls they have.
    methods: MethodNames,
}

/// The id a proxy forwards with a request, if any.
fn request_key(call: &Call) -> Option<String> {
    let get = |n: &str| Call::header(&call.request_headers, n).map(|v| String::from_utf8_lossy(v).into_owned());
    if let Some(id) = get("x-request-id") {
        return Some(format!("x-request-id {id}"));
    }
    if let Some(tp) = get("traceparent") {
        // version-traceid-parentid-flags: the trace id is shared by every hop.
        return tp.split('-').nth(1).map(|t| format!("trace {t}"));
    }
    if let Some(t) = get("x-b3-traceid") {
        return Some(format!("trace {t}"));
    }
    get("b3").and_then(|b| b.split('-').next().map(|t| format!("trace {t}")))
}

fn fingerprint(call: &Call) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let m = call.requests.first()?;
    let data = m.data.as_ref()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    m.length.hash(&mut h);
    Some(h.finish())
}

impl Hops {
    /// Remembers a finished call as a possible leg.
    pub fn add_call(&mut self, call: &Call) {
        let (origin, transport) = call.verdict();
        let initiated_by = match (&origin, &transport) {
            (Origin::Application, _) => Some(Side::Server),
            (Origin::Transport, Some(t)) => Some(match t.kind {
                TransportKind::RstStream => call.rst.map_or(Side::Server, |r| r.from),
                TransportKind::ConnectionClosed | TransportKind::ConnectionReset => match call.connection_end {
                    Some(EndReason::Fin { by, .. }) | Some(EndReason::Rst { by }) => by,
                    _ => Side::Server,
                },
                TransportKind::HttpStatus | TransportKind::Goaway | TransportKind::MissingTrailers => Side::Server,
            }),
            _ => None,
        };
        let leg = Leg {
            conn: call.conn,
            stream_id: call.stream_id,
            client: call.client,
            server: call.server,
            method: self.methods.of(call),
            start: call.start,
            end: call.end.or(call.rst.map(|r| r.ts)),
            status: call.effective_status(),
            origin,
            detail: transport.map(|t| t.detail).or_else(|| call.grpc_message()),
            initiated_by,
            deadline_nanos: call.timeout_nanos(),
            packet: call.outcome_packet(),
            attempt: 1,
            previous_attempts: call.previous_attempts(),
            names: EndpointNames::default(),
            http_status: call.http_status().filter(|s| *s != 200),
            about_size: call.status_says_too_large(),
            responses: call.responses.len(),
            key: request_key(call),
            fingerprint: fingerprint(call),
        };
        self.remember(leg);
    }

    /// Keeps a leg, forgetting the oldest past [`MAX_LEGS`].
    fn remember(&mut self, leg: Leg) {
        if self.legs.capacity() == 0 {
            // Room for all at once: growing by doubling copied every leg
            // each time, and the copies faulted in fresh pages (a sixth of
            // `stats` on 200,000 calls). Untouched room costs no memory.
            self.legs.reserve_exact(MAX_LEGS);
        }
        if self.legs.len() >= MAX_LEGS {
            self.legs.pop_front();
        }
        self.legs.push_back(leg);
    }

    /// Takes in the legs and attempts of another capture (or shard), its
    /// connections renumbered by `conn_id`: the captures of two pods,
    /// merged, pair the legs each saw of one call.
    pub fn merge(&mut self, other: Hops, conn_id: &dyn Fn(ConnId) -> ConnId) {
        for mut leg in other.legs {
            leg.conn = conn_id(leg.conn);
            self.remember(leg);
        }
        for mut a in other.attempts {
            if self.attempts.len() >= MAX_LEGS {
                break;
            }
            a.conn = conn_id(a.conn);
            self.attempts.push(a);
        }
        for (conn, at) in other.closed_by_client {
            if self.closed_by_client.len() < MAX_LEGS {
                self.closed_by_client.insert(conn_id(conn), at);
            }
        }
        for (conn, names) in other.names {
            if self.names.len() < MAX_LEGS {
                self.names.insert(conn_id(conn), names);
            }
        }
    }

    /// Remembers connection attempts that failed (a proxy that cannot reach its upstream).
    pub fn add_conn(&mut self, c: &ConnReport) {
        // A client that sent its FIN first gave up then, even if the
        // server's late answer made it reset the connection afterwards.
        let closed_by_client = match (c.tcp.first_fin, c.tcp.end) {
            (Some(Side::Client), _) => c.tcp.first_fin_ts.or(Some(c.tcp.end_ts)),
            (_, EndReason::Fin { by: Side::Client, .. } | EndReason::Rst { by: Side::Client }) => Some(c.tcp.end_ts),
            _ => None,
        };
        let named = c.names.client.is_some() || c.names.server.is_some();
        if named && self.names.len() < MAX_LEGS {
            self.names.insert(c.tcp.id, c.names.clone());
        }
        if let Some(at) = closed_by_client.filter(|_| self.closed_by_client.len() < MAX_LEGS) {
            self.closed_by_client.insert(c.tcp.id, at);
        }
        let refused = matches!(c.tcp.end, EndReason::Refused);
        let (tls_alert, tls_inferred) = c.tls.as_ref().and_then(|t| tls_failure(c, t)).unzip();
        let unanswered = matches!(c.tcp.end, EndReason::NoAnswer);
        if (refused || unanswered || tls_alert.is_some()) && self.attempts.len() < MAX_LEGS {
            self.attempts.push(RefusedAttempt {
                conn: c.tcp.id,
                client: c.tcp.client,
                server: c.tcp.server,
                ts: c.tcp.first_ts,
                refused,
                tls_alert,
                tls_inferred: tls_inferred.unwrap_or(false),
            });
        }
    }

    /// Every failed call seen on more than one hop, or failed by a proxy
    /// that could not reach its upstream.
    pub fn report(&self) -> Vec<HopReport> {
        let mut groups: BTreeMap<String, Vec<&Leg>> = BTreeMap::new();
        let mut unkeyed: Vec<&Leg> = Vec::new();
        for leg in &self.legs {
            match &leg.key {
                Some(k) => groups.entry(k.clone()).or_default().push(leg),
                None => unkeyed.push(leg),
            }
        }
        let mut out = Vec::new();
        for (key, legs) in groups {
            // An id on one leg only is one a proxy added on its upstream leg
            // (nginx ingress, Envoy): that leg pairs with the unkeyed client
            // leg by method and request, as unkeyed legs do.
            if let [only] = legs.as_slice() {
                unkeyed.push(only);
                continue;
            }
            out.extend(self.judge(key, legs));
        }
        out.extend(self.pair_unkeyed(unkeyed));
        out.sort_by_key(|r| r.legs.first().map(|l| (l.start, l.conn, l.stream_id)));
        out
    }

    /// Pairs legs without a request id by method and first request bytes.
    /// Legs are bucketed by (method, request) first, so the pairing is
    /// linear in the number of calls however many of them a capture holds.
    fn pair_unkeyed(&self, legs: Vec<&Leg>) -> Vec<HopReport> {
        let mut buckets: AHashMap<(Option<&str>, Option<u64>), Vec<&Leg>> = AHashMap::new();
        for leg in legs {
            buckets.entry((leg.method.as_deref(), leg.fingerprint)).or_default().push(leg);
        }
        let mut out = Vec::new();
        for (_, mut bucket) in buckets {
            // Only failures are reported: a bucket without one pairs nothing of interest.
            if !bucket.iter().any(|l| l.failed()) {
                continue;
            }
            bucket.sort_by_key(|l| (l.start, l.conn, l.stream_id));
            let mut used = vec![false; bucket.len()];
            for (i, first) in bucket.iter().enumerate() {
                if used.get(i).copied().unwrap_or(true) {
                    continue;
                }
                let mut group = vec![*first];
                if first.fingerprint.is_some() {
                    for (j, other) in bucket.iter().enumerate().skip(i + 1).take(MAX_CANDIDATES) {
                        if other.start.nanos_since(first.start) > WINDOW_NANOS {
                            break;
                        }
                        // The legs of one call cross different hops: other
                        // connections to other servers. Identical requests to
                        // the same server are different calls.
                        let fits = group.iter().all(|g| g.conn != other.conn && g.server != other.server);
                        if fits && !used.get(j).copied().unwrap_or(true) {
                            group.push(*other);
                            if let Some(u) = used.get_mut(j) {
                                *u = true;
                            }
                        }
                    }
                }
                out.extend(self.judge(unkeyed_label(&group), group));
            }
        }
        out
    }

    fn judge(&self, paired_by: String, mut legs: Vec<&Leg>) -> Option<HopReport> {
        legs.sort_by_key(|l| l.start);
        let (mut owned, mut retried) = split_attempts(&legs);
        for leg in owned.iter_mut().chain(retried.iter_mut()) {
            if let Some(n) = self.names.get(&leg.conn) {
                leg.names = n.clone();
            }
        }
        for leg in owned.iter_mut().skip(1) {
            if let Some(&closed) = self.closed_by_client.get(&leg.conn) {
                answered_after_close(leg, closed);
            }
        }
        let failed: Vec<usize> = (0..owned.len()).filter(|&i| owned.get(i).is_some_and(|l| l.failed())).collect();
        if failed.is_empty() {
            // The last attempts succeeded: a call the retries saved.
            return None;
        }
        if owned.len() == 1 {
            return self.single_leg(paired_by, owned, retried);
        }
        let blamed = blame(&owned, &failed);
        let cause = classify(&owned, blamed, None);
        // A deadline is the client's decision, whichever hop noticed first.
        let first = match cause {
            Cause::ClientDeadline => owned.iter().position(Leg::hit_its_deadline).unwrap_or(0),
            _ => blamed,
        };
        let summary = story(&owned, first, None, cause) + &retries_told(&retried, &owned);
        let packets = leg_packets(&owned);
        Some(HopReport {
            paired_by,
            legs: owned,
            retried,
            failed_first: first,
            refused_upstream: None,
            cause,
            packets,
            summary,
        })
    }

    /// A failed call whose only leg is the client's: did the proxy fail to
    /// reach its upstream during the call?
    fn single_leg(&self, paired_by: String, legs: Vec<Leg>, retried: Vec<Leg>) -> Option<HopReport> {
        let leg = legs.first()?;
        if leg.origin != Origin::Transport {
            return None;
        }
        let end = leg.end.unwrap_or(Timestamp(i64::MAX));
        let attempt = self
            .attempts
            .iter()
            .find(|a| a.client.ip() == leg.server.ip() && a.ts >= leg.start && a.ts <= end && a.server != leg.server)?;
        let cause = if attempt.tls_alert.is_some() { Cause::TlsFailure } else { Cause::UpstreamRefused };
        let summary = story(&legs, 0, Some(attempt), cause) + &retries_told(&retried, &legs);
        let packets = leg_packets(&legs);
        Some(HopReport {
            paired_by,
            legs,
            retried,
            failed_first: 0,
            refused_upstream: Some(attempt.clone()),
            cause,
            packets,
            summary,
        })
    }
}

/// A status a server wrote after the leg's client (the proxy) had closed
/// the connection reached no one: the proxy gave up first (its read
/// timeout), so the leg failed by its client at that moment, whatever the
/// status said. C-core and Go servers still write it; the capture has it.
fn answered_after_close(leg: &mut Leg, closed: Timestamp) {
    let (Some(end), true) = (leg.end, leg.origin != Origin::Transport) else { return };
    if end <= closed || closed < leg.start {
        return;
    }
    let waited = crate::time::human_duration(closed.nanos_since(leg.start));
    let late = crate::time::human_duration(end.nanos_since(closed));
    leg.detail = Some(format!(
        "its client closed the connection after {waited}, and the server's grpc-status {} came {late} later, to no one",
        leg.status.unwrap_or("?")
    ));
    leg.origin = Origin::Transport;
    leg.initiated_by = Some(Side::Client);
    leg.end = Some(closed);
}

/// Splits a call's legs (sorted by start) into hops: a leg to a server an
/// earlier leg already reached is its client retrying that hop, not a hop
/// of its own. Returns the last attempt of each hop, in start order, and
/// the earlier attempts, each numbered within its hop.
fn split_attempts(legs: &[&Leg]) -> (Vec<Leg>, Vec<Leg>) {
    let mut hops: Vec<Vec<Leg>> = Vec::new();
    for &leg in legs {
        let mut leg = leg.clone();
        match hops.iter_mut().find(|h| h.first().is_some_and(|f| f.server == leg.server)) {
            Some(h) => {
                leg.attempt = h.len() as u32 + 1;
                h.push(leg);
            }
            None => hops.push(vec![leg]),
        }
    }
    let (mut last, mut earlier) = (Vec::new(), Vec::new());
    for mut h in hops {
        last.extend(h.pop());
        earlier.extend(h);
    }
    last.sort_by_key(|l| l.start);
    earlier.sort_by_key(|l| l.start);
    (last, earlier)
}

/// The retries, for the end of a report's story; `legs` are the last
/// attempts, which say how many came before when the client's retry
/// policy sent `grpc-previous-rpc-attempts`.
fn retries_told(retried: &[Leg], legs: &[Leg]) -> String {
    let header = legs.iter().find_map(|l| l.previous_attempts.filter(|n| *n > 0));
    let header =
        header.map(|n| format!(" (the last attempt carried grpc-previous-rpc-attempts: {n})")).unwrap_or_default();
    if retried.is_empty() {
        return header;
    }
    let told: Vec<String> = retried
        .iter()
        .map(|l| {
            format!(
                "attempt {} to {} (conn {} stream {}) ended {}",
                l.attempt,
                l.server_text(),
                l.conn,
                l.stream_id,
                describe(l)
            )
        })
        .collect();
    format!("; before that the client retried: {}{header}", told.join(", "))
}

/// The packet that shows how each leg ended, in hop order (legs without one left out).
fn leg_packets(legs: &[Leg]) -> Vec<u64> {
    legs.iter().map(|l| l.packet).filter(|p| *p > 0).collect()
}

/// What paired legs matched without a shared id: `method+request`, and the
/// id a proxy added to its upstream leg when one did.
fn unkeyed_label(group: &[&Leg]) -> String {
    match (group.len(), group.iter().find_map(|l| l.key.as_deref())) {
        (2.., Some(key)) => format!("method+request ({key} on the upstream leg only)"),
        (_, Some(key)) => key.to_string(),
        _ => "method+request".into(),
    }
}

fn describe(l: &Leg) -> String {
    let status = l.status.unwrap_or("status unknown");
    match (&l.origin, &l.detail) {
        (Origin::Transport, Some(d)) => format!("{status} ({d})"),
        (Origin::Application, Some(m)) => format!("{status} from the application: {m}"),
        _ => status.to_string(),
    }
}

/// The cause class of a failure whose first failed leg is `first`.
fn classify(legs: &[Leg], first: usize, refused: Option<&RefusedAttempt>) -> Cause {
    let Some(bad) = legs.get(first) else { return Cause::Application };
    if refused.is_some() {
        return Cause::UpstreamRefused;
    }
    if legs.iter().any(Leg::hit_its_deadline) {
        return Cause::ClientDeadline;
    }
    match bad.http_status {
        Some(504) => return Cause::UpstreamTimeout,
        Some(502 | 503) => return Cause::UpstreamRefused,
        Some(413) => return Cause::RequestTooLarge,
        _ => {}
    }
    if bad.about_size {
        return Cause::RequestTooLarge;
    }
    match (bad.initiated_by, bad.origin) {
        // A proxy closing its upstream leg: a timeout, before any answer or
        // after the stream went quiet.
        (Some(Side::Client), _) if first > 0 && bad.responses > 0 => Cause::IdleTimeout,
        (Some(Side::Client), _) if first > 0 => Cause::UpstreamTimeout,
        (Some(Side::Client), _) => Cause::ClientCancel,
        (_, Origin::Application) => Cause::Application,
        _ => Cause::UpstreamReset,
    }
}

/// The sentence an SRE wants: which hop failed first, and what each hop
/// nearer the client saw.
fn story(legs: &[Leg], first: usize, refused: Option<&RefusedAttempt>, cause: Cause) -> String {
    let Some(bad) = legs.get(first) else { return String::new() };
    let deadline = |l: &Leg| l.deadline_nanos.map(|d| crate::time::human_duration(d as i64)).unwrap_or_default();
    let mut s = match refused {
        Some(a) => format!(
            "the proxy {} could not reach its upstream {}: {} (conn {})",
            bad.server_text(),
            a.server,
            a.failure(),
            a.conn
        ),
        None if cause == Cause::ClientDeadline => format!(
            "hop {}'s client {} set a {} deadline (grpc-timeout) and it expired: {}",
            first + 1,
            bad.client_text(),
            deadline(bad),
            describe(bad)
        ),
        None if bad.initiated_by == Some(Side::Client) && first > 0 => format!(
            "hop {} ({} -> {}) failed first: its client {} (the proxy) gave up on it (no answer from {} within {}): {}",
            first + 1,
            bad.client_text(),
            bad.server_text(),
            bad.client.ip(),
            bad.server,
            bad.end.map(|e| crate::time::human_duration(e.nanos_since(bad.start))).unwrap_or_default(),
            describe(bad)
        ),
        None => {
            format!(
                "hop {} ({} -> {}) failed first: {}",
                first + 1,
                bad.client_text(),
                bad.server_text(),
                describe(bad)
            )
        }
    };
    let deeper = cause == Cause::ClientDeadline;
    let nearer: Vec<String> = legs
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| *i < first || (refused.is_some() && *i == 0) || (deeper && *i > first))
        .map(|(i, l)| format!("hop {} saw {}", i + 1, describe(l)))
        .collect();
    if !nearer.is_empty() {
        s.push_str("; then ");
        s.push_str(&nearer.join(", "));
    }
    if let (Some(client), true) = (legs.first(), first > 0 || refused.is_some()) {
        if client.origin == Origin::Transport && bad.origin == Origin::Application {
            s.push_str(" (an application error became a transport error on the way)");
        } else if client.status != bad.status && client.status.is_some() {
            s.push_str(&format!(
                " (the client got {} instead of {})",
                client.status.unwrap_or("?"),
                bad.status.unwrap_or("?")
            ));
        }
    }
    s
}

/// Which leg failed first, judged by who started each failure: errors a
/// server answers travel back up the chain (the deepest failed leg is the
/// cause), cancellations a client starts travel down it (the highest leg
/// whose client cancelled first is the cause). A proxy giving up on its
/// upstream (timeout) closes the lower leg from its client side without any
/// cancellation from above: the lower hop is where it failed.
fn blame(legs: &[Leg], failed: &[usize]) -> usize {
    let Some(&deepest) = failed.iter().max() else { return 0 };
    let Some(d) = legs.get(deepest) else { return deepest };
    if d.initiated_by != Some(Side::Client) {
        return deepest;
    }
    let end = |i: usize| legs.get(i).and_then(|l| l.end).unwrap_or(Timestamp(i64::MAX));
    failed
        .iter()
        .copied()
        .filter(|&i| {
            i < deepest && legs.get(i).is_some_and(|l| l.initiated_by == Some(Side::Client)) && end(i) <= end(deepest)
        })
        .min()
        .unwrap_or(deepest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(conn: ConnId, status: &'static str, origin: Origin, by: Side, ms: i64) -> Leg {
        Leg {
            conn,
            stream_id: 1,
            client: SocketAddr::from(([10, 0, 0, conn as u8], 40000)),
            server: SocketAddr::from(([10, 0, 1, conn as u8], 50051)),
            method: None,
            start: Timestamp(0),
            end: Some(Timestamp(ms * 1_000_000)),
            status: Some(status),
            origin,
            detail: None,
            initiated_by: Some(by),
            deadline_nanos: None,
            packet: conn,
            attempt: 1,
            previous_attempts: None,
            names: EndpointNames::default(),
            http_status: None,
            about_size: false,
            responses: 0,
            key: None,
            fingerprint: None,
        }
    }

    #[test]
    fn a_proxy_closing_a_stream_that_had_answered_is_an_idle_timeout() {
        let client = leg(1, "UNAVAILABLE", Origin::Transport, Side::Server, 5_000);
        let mut upstream = leg(2, "UNAVAILABLE", Origin::Transport, Side::Client, 5_000);
        assert_eq!(classify(&[client.clone(), upstream.clone()], 1, None), Cause::UpstreamTimeout);
        upstream.responses = 3;
        assert_eq!(classify(&[client, upstream], 1, None), Cause::IdleTimeout);
    }

    #[test]
    fn size_limits_cancels_and_resets_have_their_own_class() {
        let mut too_big = leg(2, "RESOURCE_EXHAUSTED", Origin::Application, Side::Server, 1);
        too_big.about_size = true;
        let client = leg(1, "RESOURCE_EXHAUSTED", Origin::Application, Side::Server, 1);
        assert_eq!(classify(&[client.clone(), too_big], 1, None), Cause::RequestTooLarge);
        let cancelled = leg(1, "CANCELLED", Origin::Transport, Side::Client, 30);
        assert_eq!(classify(std::slice::from_ref(&cancelled), 0, None), Cause::ClientCancel);
        // Cancelled at its deadline: the deadline is the cause.
        let mut at_deadline = cancelled;
        at_deadline.deadline_nanos = Some(30_000_000);
        assert_eq!(classify(&[at_deadline], 0, None), Cause::ClientDeadline);
        let reset = leg(2, "INTERNAL", Origin::Transport, Side::Server, 1);
        assert_eq!(classify(&[client, reset], 1, None), Cause::UpstreamReset);
    }

    /// Legs sharing a request id: the client's two attempts to the proxy
    /// (conns 1 and 3, one server) and the proxy's two to the upstream
    /// (conns 2 and 4), all starting in that order.
    fn retried_through_a_proxy(last_status: &'static str, last_origin: Origin) -> Vec<Leg> {
        let proxy = SocketAddr::from(([10, 0, 1, 1], 8080));
        let upstream = SocketAddr::from(([10, 0, 2, 1], 50051));
        let mut legs = Vec::new();
        for (n, (conn, server)) in [(1, proxy), (2, upstream), (3, proxy), (4, upstream)].into_iter().enumerate() {
            let (status, origin) = if n < 2 { ("UNAVAILABLE", Origin::Transport) } else { (last_status, last_origin) };
            let mut l = leg(conn, status, origin, Side::Server, 10);
            l.server = server;
            l.start = Timestamp(n as i64 * 1_000_000);
            l.key = Some("x-request-id r".into());
            legs.push(l);
        }
        legs
    }

    #[test]
    fn a_retry_to_the_same_server_is_an_attempt_not_a_hop() {
        let mut legs = retried_through_a_proxy("UNAVAILABLE", Origin::Transport);
        if let Some(l) = legs.get_mut(2) {
            l.previous_attempts = Some(1);
        }
        let refs: Vec<&Leg> = legs.iter().collect();
        let (last, earlier) = split_attempts(&refs);
        assert_eq!(last.iter().map(|l| (l.conn, l.attempt)).collect::<Vec<_>>(), [(3, 2), (4, 2)]);
        assert_eq!(earlier.iter().map(|l| (l.conn, l.attempt)).collect::<Vec<_>>(), [(1, 1), (2, 1)]);
        let hops = Hops { legs: legs.into(), ..Default::default() };
        let [report] = hops.report().try_into().unwrap();
        assert_eq!(report.legs.len(), 2, "two hops, not four");
        assert_eq!(report.retried.len(), 2);
        assert!(
            report
                .summary
                .contains("; before that the client retried: attempt 1 to 10.0.1.1:8080 (conn 1 stream 1) ended"),
            "{}",
            report.summary
        );
        assert!(
            report.summary.ends_with(" (the last attempt carried grpc-previous-rpc-attempts: 1)"),
            "{}",
            report.summary
        );
    }

    /// nginx's grpc_read_timeout closes the upstream connection; a C-core
    /// server writes its status afterwards. The proxy's timeout is the
    /// cause, measured to the close, not the application.
    #[test]
    fn a_status_written_after_the_proxy_closed_is_the_proxys_timeout() {
        let mut client = leg(1, "UNAVAILABLE", Origin::Transport, Side::Server, 301);
        client.key = Some("x-request-id t".into());
        client.http_status = Some(504);
        let mut upstream = leg(2, "UNAVAILABLE", Origin::Application, Side::Server, 900);
        upstream.key = client.key.clone();
        upstream.start = Timestamp(1_000_000);
        let mut hops = Hops { legs: vec![client, upstream].into(), ..Default::default() };
        hops.closed_by_client.insert(2, Timestamp(301_000_000));
        let [report] = hops.report().try_into().unwrap();
        assert_eq!(report.cause, Cause::UpstreamTimeout, "{report:#?}");
        assert_eq!(report.failed_first, 1);
        let up = &report.legs[1];
        assert_eq!(up.end, Some(Timestamp(301_000_000)), "the leg ended when the proxy closed it");
        assert_eq!(
            up.detail.as_deref(),
            Some("its client closed the connection after 300.0ms, and the server's grpc-status UNAVAILABLE came 599.0ms later, to no one")
        );
        // Without the close, the same legs are the application's failure.
        let mut hops = Hops { legs: hops.legs.clone(), ..Default::default() };
        hops.closed_by_client.clear();
        assert_eq!(hops.report()[0].cause, Cause::Application);
    }

    #[test]
    fn a_call_its_retry_saved_has_no_hop_report() {
        let legs = retried_through_a_proxy("OK", Origin::None);
        let hops = Hops { legs: legs.into(), ..Default::default() };
        assert!(hops.report().is_empty());
    }

    /// nginx answering 502 because its TLS handshake with the upstream
    /// failed: the call's only leg is the client's, and the proxy's
    /// connection with a fatal alert is the cause.
    #[test]
    fn a_proxy_whose_upstream_tls_failed_is_a_tls_failure() {
        let mut client = leg(1, "UNAVAILABLE", Origin::Transport, Side::Server, 5);
        client.http_status = Some(502);
        let proxy = client.server.ip();
        let attempt = |tls_alert: Option<&str>| RefusedAttempt {
            conn: 2,
            client: SocketAddr::new(proxy, 41000),
            server: SocketAddr::from(([10, 0, 2, 1], 443)),
            ts: Timestamp(1_000_000),
            refused: false,
            tls_alert: tls_alert.map(str::to_string),
            tls_inferred: false,
        };
        let hops = Hops {
            legs: vec![client.clone()].into(),
            attempts: vec![attempt(Some("client sent unknown_ca"))],
            ..Default::default()
        };
        let [report] = hops.report().try_into().unwrap();
        assert_eq!(report.cause, Cause::TlsFailure);
        assert!(
            report.summary.starts_with("the proxy 10.0.1.1:50051 could not reach its upstream 10.0.2.1:443: TLS handshake failed (client sent unknown_ca) (conn 2)"),
            "{}",
            report.summary
        );
        // The same without the alert: an upstream that never answered.
        let hops = Hops { legs: vec![client].into(), attempts: vec![attempt(None)], ..Default::default() };
        assert_eq!(hops.report()[0].cause, Cause::UpstreamRefused);
        assert!(hops.report()[0].summary.contains(": connection never answered (conn 2)"));
    }
}
