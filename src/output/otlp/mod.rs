//! `--otlp ENDPOINT`: each call as an OpenTelemetry span, exported to a
//! collector (the OpenTelemetry Collector, Jaeger, Tempo, the Datadog
//! Agent) over OTLP/HTTP with protobuf bodies or OTLP/gRPC.
//!
//! The printer hands spans to an exporter thread through a bounded queue;
//! the thread sends them in batches (up to [`BATCH_SPANS`], or what came
//! within [`BATCH_WAIT`]) and retries what the collector asks to have sent
//! again. Reading a file, a full queue makes the reader wait: no span is
//! lost. Live, a full queue (the collector down, or too slow) drops spans
//! and counts them: memory stays bounded and the capture keeps up.

pub mod grpc;
pub mod http;
pub mod proto;

use crate::present::span::WireSpan;
use prost::Message as _;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Spans per export request, at most.
pub const BATCH_SPANS: usize = 512;
/// How long a span waits for others before its batch is sent.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// Spans waiting for the exporter, at most.
pub const QUEUE_SPANS: usize = 8192;
/// Tries of one batch before it is given up.
const ATTEMPTS: u32 = 5;
/// Connecting, writing and waiting for an answer, each at most.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/HTTP, binary protobuf bodies (`POST /v1/traces`, port 4318).
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/gRPC (`TraceService/Export`, port 4317), clear text.
    Grpc,
}

/// Why an export failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    /// The OTLP specification says to try again.
    pub retryable: bool,
    /// After how long, when the collector said.
    pub retry_after_secs: Option<u64>,
    /// What happened.
    pub reason: String,
}

impl ExportError {
    /// A failure worth another try.
    pub fn retry(reason: impl Into<String>) -> Self {
        ExportError { retryable: true, retry_after_secs: None, reason: reason.into() }
    }

    /// A failure another try would repeat.
    pub fn fail(reason: impl Into<String>) -> Self {
        ExportError { retryable: false, retry_after_secs: None, reason: reason.into() }
    }
}

/// The spans an ExportTraceServiceResponse says were rejected.
pub fn rejected(response: &[u8]) -> i64 {
    proto::ExportTraceServiceResponse::decode(response)
        .ok()
        .and_then(|r| r.partial_success)
        .map_or(0, |p| p.rejected_spans)
}

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// The path of OTLP/HTTP requests.
    pub path: String,
    /// How.
    pub protocol: Protocol,
}

impl Endpoint {
    /// `http://host:port[/path]` for `protocol`. Without a path, OTLP/HTTP
    /// posts to `/v1/traces` (as OTEL_EXPORTER_OTLP_ENDPOINT is read);
    /// a path is used as given (as OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
    pub fn parse(url: &str, protocol: Protocol) -> Result<Endpoint, String> {
        if url.starts_with("https://") {
            return Err(format!(
                "{url}: grpcscope sends spans in clear text only; point --otlp at a collector or agent beside it \
                 (http://localhost:4318, or a node-local agent), which forwards them over TLS"
            ));
        }
        let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("grpc://")).unwrap_or(url);
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() || !authority.contains(':') {
            return Err(format!(
                "{url}: give the collector as http://HOST:PORT (4318 for OTLP/HTTP, 4317 with --otlp-protocol grpc)"
            ));
        }
        let path = if path.is_empty() || path == "/" { "/v1/traces".to_string() } else { path.to_string() };
        Ok(Endpoint { authority: authority.to_string(), path, protocol })
    }
}

/// What an exporter did, for the summary at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans it rejected (a partial success).
    pub rejected: u64,
    /// Spans given up after every try.
    pub failed: u64,
    /// Spans dropped because the queue was full (live only).
    pub dropped: u64,
    /// Export requests sent (tries included).
    pub requests: u64,
    /// The last failure, when there was one.
    pub last_error: Option<String>,
}

/// The exporter's thread and its queue.
pub struct Exporter {
    tx: Option<SyncSender<WireSpan>>,
    /// Set at the end of a live capture: a batch that fails is not tried
    /// again, and once one has, the rest are given up (a collector that is
    /// down must not hold the exit for minutes).
    closing: Arc<AtomicBool>,
    worker: Option<JoinHandle<ExportReport>>,
    /// Drop spans when the queue is full (live) instead of waiting (files).
    pub lossy: bool,
    dropped: u64,
    /// The capture's name in the spans.
    pub capture: String,
}

impl Exporter {
    /// Starts exporting to `endpoint`.
    pub fn start(endpoint: Endpoint, capture: String, lossy: bool) -> Exporter {
        let (tx, rx) = sync_channel::<WireSpan>(QUEUE_SPANS);
        let closing = Arc::new(AtomicBool::new(false));
        let flag = closing.clone();
        let worker = std::thread::spawn(move || run(&endpoint, &rx, &flag, lossy));
        Exporter { tx: Some(tx), closing, worker: Some(worker), lossy, dropped: 0, capture }
    }

    /// Queues the span of `call`.
    pub fn call(&mut self, call: &crate::grpc::Call) {
        let span = crate::present::span::span_of(call, &self.capture);
        let Some(tx) = &self.tx else { return };
        if self.lossy {
            if let Err(TrySendError::Full(_)) = tx.try_send(span) {
                self.dropped += 1;
            }
        } else {
            let _ = tx.send(span);
        }
    }

    /// Sends what is queued, and says what was done.
    pub fn finish(mut self) -> ExportReport {
        self.closing.store(true, Ordering::SeqCst);
        self.tx = None;
        let mut report = self.worker.take().and_then(|w| w.join().ok()).unwrap_or_default();
        report.dropped += self.dropped;
        report
    }
}

/// The exporter thread: batches, sends with retries, until the queue closes.
/// Live (`lossy`), a batch that fails is followed by the next one (the
/// collector may come back) until the end, when each batch has one try and
/// a failure gives up the rest. Reading a file, a batch that fails all its
/// tries gives up the rest: the collector is down, and waiting minutes for
/// it would not bring it back.
fn run(endpoint: &Endpoint, rx: &Receiver<WireSpan>, closing: &AtomicBool, lossy: bool) -> ExportReport {
    let mut report = ExportReport::default();
    let mut given_up = false;
    let mut link = Link::new(endpoint);
    let mut open = true;
    while open {
        let Ok(first) = rx.recv() else { break };
        let mut batch = vec![first];
        let deadline = Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH_SPANS {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(s) => batch.push(s),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if given_up {
            report.failed += batch.len() as u64;
            continue;
        }
        let last_call = lossy && closing.load(Ordering::SeqCst);
        let sent = send(&mut link, &batch, &mut report, if last_call { 1 } else { ATTEMPTS });
        given_up = !sent && (last_call || !lossy);
    }
    report
}

/// One batch, tried until it goes, fails for good, or runs out of
/// `attempts` (backing off 0.2 s, 0.4 s, ... or as long as the collector
/// asked); whether it went.
fn send(link: &mut Link, batch: &[WireSpan], report: &mut ExportReport, attempts: u32) -> bool {
    let body = proto::request(batch.iter().map(proto::span).collect()).encode_to_vec();
    let n = batch.len() as u64;
    for attempt in 0..attempts {
        report.requests += 1;
        match link.export(&body) {
            Ok(rejected) => {
                let rejected = u64::try_from(rejected).unwrap_or(0).min(n);
                report.exported += n - rejected;
                report.rejected += rejected;
                return true;
            }
            Err(e) => {
                report.last_error = Some(e.reason.clone());
                if !e.retryable || attempt + 1 == attempts {
                    break;
                }
                let backoff = Duration::from_millis(200 << attempt);
                let asked = e.retry_after_secs.map(|s| Duration::from_secs(s.min(30)));
                std::thread::sleep(asked.unwrap_or(backoff));
            }
        }
    }
    report.failed += n;
    false
}

/// The connection to the collector: one per OTLP/HTTP request; one kept
/// for OTLP/gRPC, opened again after it breaks.
struct Link<'a> {
    endpoint: &'a Endpoint,
    grpc: Option<(TcpStream, grpc::Session)>,
}

impl<'a> Link<'a> {
    fn new(endpoint: &'a Endpoint) -> Self {
        Link { endpoint, grpc: None }
    }

    fn connect(&self) -> Result<TcpStream, ExportError> {
        let what = &self.endpoint.authority;
        let io = |e: std::io::Error| ExportError::retry(format!("{what}: {e}"));
        let addr = what
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| ExportError::fail(format!("{what}: no address")))?;
        let sock = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(io)?;
        sock.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        sock.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        Ok(sock)
    }

    fn export(&mut self, body: &[u8]) -> Result<i64, ExportError> {
        match self.endpoint.protocol {
            Protocol::HttpProtobuf => self.export_http(body),
            Protocol::Grpc => {
                let r = self.export_grpc(body);
                if r.is_err() {
                    // Start from a fresh connection next time.
                    self.grpc = None;
                }
                r
            }
        }
    }

    fn export_http(&self, body: &[u8]) -> Result<i64, ExportError> {
        let mut sock = self.connect()?;
        let io = |e: std::io::Error| ExportError::retry(format!("{}: {e}", self.endpoint.authority));
        sock.write_all(&http::request(&self.endpoint.authority, &self.endpoint.path, body)).map_err(io)?;
        let mut answer = Vec::new();
        // The answer is small; its size is bounded all the same.
        sock.take(1 << 20).read_to_end(&mut answer).map_err(io)?;
        http::outcome(&answer)
    }

    fn export_grpc(&mut self, body: &[u8]) -> Result<i64, ExportError> {
        if self.grpc.is_none() {
            let sock = self.connect()?;
            self.grpc = Some((sock, grpc::Session::new(&self.endpoint.authority)));
        }
        let what = self.endpoint.authority.clone();
        let Some((sock, session)) = &mut self.grpc else { return Err(ExportError::retry("no connection")) };
        let io = |e: std::io::Error| ExportError::retry(format!("{what}: {e}"));
        session.start(body);
        let deadline = Instant::now() + TIMEOUT;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let out = session.take_output();
            if !out.is_empty() {
                sock.write_all(&out).map_err(io)?;
            }
            if let Some(r) = session.result() {
                return r;
            }
            if Instant::now() > deadline {
                return Err(ExportError::retry(format!("{what}: no answer within {}s", TIMEOUT.as_secs())));
            }
            match sock.read(&mut buf) {
                Ok(0) => session.eof(),
                Ok(n) => session.receive(buf.get(..n).unwrap_or_default()),
                Err(e) => return Err(io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_default_to_the_traces_path_and_refuse_tls() {
        let e = Endpoint::parse("http://collector:4318", Protocol::HttpProtobuf).unwrap();
        assert_eq!((e.authority.as_str(), e.path.as_str()), ("collector:4318", "/v1/traces"));
        let e = Endpoint::parse("http://127.0.0.1:9000/otlp/v1/traces", Protocol::HttpProtobuf).unwrap();
        assert_eq!(e.path, "/otlp/v1/traces");
        assert!(Endpoint::parse("https://x:4318", Protocol::HttpProtobuf).unwrap_err().contains("clear text only"));
        assert!(Endpoint::parse("http://collector", Protocol::Grpc).unwrap_err().contains("HOST:PORT"));
        assert_eq!(Endpoint::parse("localhost:4317", Protocol::Grpc).unwrap().authority, "localhost:4317");
    }

    #[test]
    fn a_collector_that_is_down_costs_five_tries_and_is_reported() {
        // A port nothing listens on: refused at once, retried, given up.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}"), Protocol::HttpProtobuf).unwrap();
        let mut link = Link::new(&endpoint);
        let mut report = ExportReport::default();
        let span = WireSpan {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            trace_source: None,
            name: "x".into(),
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            attributes: vec![],
            status: crate::present::span::SpanStatus::Unset,
            status_message: String::new(),
        };
        assert!(!send(&mut link, &[span], &mut report, ATTEMPTS));
        assert_eq!((report.failed, report.requests, report.exported), (1, u64::from(ATTEMPTS), 0));
        assert!(report.last_error.is_some_and(|e| e.contains("refused")));
    }

    #[test]
    fn live_a_full_queue_drops_spans_and_the_end_does_not_wait_for_a_dead_collector() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}"), Protocol::HttpProtobuf).unwrap();
        let mut x = Exporter::start(endpoint, "live lo".into(), true);
        let call = crate::grpc::Call::new(
            1,
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:50051".parse().unwrap(),
            1,
            crate::time::Timestamp::from_parts(1_700_000_000, 0),
        );
        let offered = QUEUE_SPANS as u64 * 3;
        for _ in 0..offered {
            x.call(&call);
        }
        let r = x.finish();
        // The queue (and one batch in the thread's hands) held; the rest were dropped.
        assert!(r.dropped >= offered - QUEUE_SPANS as u64 - BATCH_SPANS as u64, "{r:?}");
        assert_eq!(r.dropped + r.failed + r.exported, offered, "{r:?}");
        // The first batch had its five tries; at the end, one try, then the rest given up.
        assert!(r.requests <= u64::from(ATTEMPTS) + 2, "{r:?}");
    }
}
