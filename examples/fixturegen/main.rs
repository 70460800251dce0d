//! Generates grpcscope's fixtures: real tonic gRPC servers and clients talk
//! on loopback while libpcap records the traffic into fixtures/NAME.pcap.
//!
//! Run as root (or with CAP_NET_RAW): `cargo run --example fixturegen -- [SCENARIO...]`.
//! With no argument every scenario is regenerated, into fixtures/ or the
//! directory `GRPCSCOPE_FIXTURE_DIR` names. See docs/fixtures.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod inventory;
mod proxy;
mod recorder;
mod tls;

use inventory::*;
use std::time::Duration;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;

/// One scripted exchange and the port its server listens on.
struct Scenario {
    name: &'static str,
    port: u16,
    about: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "unary", port: 50061, about: "six GetPart calls: five OK, one NOT_FOUND" },
    Scenario {
        name: "streaming",
        port: 50062,
        about: "a server stream of 5, a client stream of 4, a bidi exchange of 3",
    },
    Scenario {
        name: "errors",
        port: 50063,
        about: "error statuses with google.rpc error details, a unicode message, UNIMPLEMENTED",
    },
    Scenario {
        name: "deadline",
        port: 50064,
        about: "a 100 ms deadline on a 400 ms call (client RST_STREAM), then an OK call",
    },
    Scenario { name: "cancel", port: 50065, about: "a server stream cancelled by the client after 3 messages" },
    Scenario {
        name: "reconnect",
        port: 50066,
        about: "the server restarts twice; the channel reconnects (GOAWAY, refused SYNs, new connections)",
    },
    Scenario {
        name: "compression",
        port: 50067,
        about: "gzip, zstd and deflate compressed messages beside plain ones",
    },
    Scenario { name: "metadata", port: 50068, about: "custom ASCII and -bin metadata in headers and trailers" },
    Scenario {
        name: "traced",
        port: 50106,
        about: "calls carrying trace context as tracing libraries send it: W3C traceparent, B3 single and multi headers, a malformed traceparent, none",
    },
    Scenario {
        name: "reflection",
        port: 50069,
        about: "a server reflection exchange, then calls: decodable with no --proto",
    },
    Scenario {
        name: "mid_connection",
        port: 50070,
        about: "capture started after the channel was warm: no handshake, HPACK table unknown",
    },
    Scenario {
        name: "bench_seed",
        port: 50071,
        about: "one connection, four concurrent workers: 1,000 calls of every kind (the benchmark generator replays it)",
    },
    Scenario {
        name: "proxy",
        port: proxy::FRONT,
        about: "client -> nginx (grpc_pass) -> server: OK, an application error, a proxy timeout (504), the upstream down (502), a client deadline",
    },
    Scenario {
        name: "ingress",
        port: proxy::INGRESS_FRONT,
        about: "client -> nginx as an ingress (x-request-id added on the upstream leg only) -> server: OK, NOT_FOUND, a proxy timeout (504)",
    },
    Scenario {
        name: "tls13",
        port: 50072,
        about: "TLS 1.3 with its key log (tls13.keys): one connection per suite, a HelloRetryRequest, a KeyUpdate",
    },
    Scenario {
        name: "tls12",
        port: 50073,
        about: "TLS 1.2 (extended master secret) with its key log: one connection per ECDHE-ECDSA suite",
    },
    Scenario {
        name: "tls_failures",
        port: 50074,
        about: "an mTLS server: a client without a certificate, two trusting the wrong CA (TLS 1.3, 1.2), one that gets through; an expired certificate",
    },
    Scenario {
        name: "limits",
        port: 50076,
        about: "a server allowing 2 concurrent streams: 8 concurrent slow calls wait their turn; a client with a 16 KiB stream window reading a server stream slowly: the server stalls at a zero window",
    },
    Scenario {
        name: "rapid_reset",
        port: 50077,
        about: "a client that starts 150 slow calls at once on one channel and cancels each 20 ms later (RST_STREAM CANCEL), then one OK call",
    },
    Scenario {
        name: "keepalive",
        port: 50078,
        about: "a client pinging every 200 ms (keep_alive_while_idle) through a slow call and an idle second: pings a C-core or grpc-go server would answer with GOAWAY too_many_pings",
    },
    Scenario {
        name: "retries",
        port: 50079,
        about: "40 calls, of which 11 fail UNAVAILABLE and are retried on a new connection with grpc-previous-rpc-attempts: 1; 10 retries succeed, one fails again",
    },
    Scenario {
        name: "haproxy",
        port: proxy::H7_FRONT,
        about: "client -> HAProxy (mode http, proto h2; x-request-id added upstream) -> server: OK, NOT_FOUND, a server timeout (504 at 300 ms), the upstream down (503)",
    },
    Scenario {
        name: "slow_handshake",
        port: 50090,
        about: "a server whose accept queue is full drops the client's SYN: the kernel sends it again 1 s later, then the call goes through",
    },
    Scenario {
        name: "retransmissions",
        port: 50091,
        about: "80 calls on one connection while netfilter drops 12% of the packets to the server at random: the client's kernel retransmits them (needs iptables)",
    },
    Scenario {
        name: "large_messages",
        port: 50092,
        about: "a 3.8 MiB request within tonic's 4 MiB default limit, then a 4.5 MiB one the server refuses",
    },
    Scenario {
        name: "encodings",
        port: 50093,
        about: "a server that decompresses gzip only: a gzip call, then zstd calls it refuses",
    },
    Scenario {
        name: "ccore_keepalive",
        port: 50094,
        about: "a tonic client pinging every 200 ms against a C-core server (Python grpcio, default keepalive enforcement): GOAWAY ENHANCE_YOUR_CALM too_many_pings",
    },
    Scenario {
        name: "ccore_late_status",
        port: proxy::LATE_FRONT,
        about: "client -> nginx (300 ms grpc_read_timeout) -> a C-core server answering after 600 ms",
    },
    Scenario {
        name: "goaway_error",
        port: 50097,
        about: "a client breaking HTTP/2 (a WINDOW_UPDATE of 0 on the connection): the tonic server's GOAWAY PROTOCOL_ERROR; then a good client's call",
    },
    Scenario {
        name: "proxy_retries",
        port: proxy::RETRY_FRONT,
        about: "client -> nginx -> server: 20 calls with an x-request-id; 5 fail UNAVAILABLE and are retried on a new connection with grpc-previous-rpc-attempts, one of them fails again",
    },
    Scenario {
        name: "haproxy_ccore",
        port: proxy::H7C_FRONT,
        about: "client -> HAProxy (mode http, the client's x-request-id passed on) -> a C-core server: 12 calls with retries on new connections, one failing twice, then a call past HAProxy's 300 ms timeout",
    },
    Scenario {
        name: "proxy_tls_upstream",
        port: proxy::TLS_FRONT,
        about: "client -> nginx -> a TLS server nginx does not trust (TLS 1.2, the wrong CA): nginx's unknown_ca alert and its 502, twice",
    },
    Scenario {
        name: "l4_balancing",
        port: proxy::L4_FRONT,
        about: "client -> HAProxy (mode tcp, round robin) -> three replicas: two long-lived channels pin 80 and 20 calls to two replicas; the third gets none",
    },
];

#[tokio::main]
async fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    // Helper modes for the live-capture tests (processes in network namespaces):
    //   fixturegen serve ADDR        serve Inventory until killed
    //   fixturegen call ADDR N       N GetPart calls (sku-0..), then one NOT_FOUND
    //   fixturegen slow ADDR         one call answered after 5 s
    match wanted.first().map(String::as_str) {
        Some("serve") => {
            let addr = wanted.get(1).expect("serve ADDR").parse().expect("ADDR as ip:port");
            serve_at(addr, None, std::future::pending()).await;
            return;
        }
        Some("slow") => {
            // One call the server answers after 5 s: open when a capture is stopped.
            let addr = wanted.get(1).expect("slow ADDR");
            let mut c = InventoryClient::lazy_at(addr);
            let _ = c.get_part(tonic::Request::new(GetPartRequest { sku: "slow-live".into(), delay_ms: 5000 })).await;
            return;
        }
        Some("tls-live") => {
            // fixturegen tls-live PORT KEYLOG N: a TLS server and N calls to
            // it; the client's key log is appended to KEYLOG only after the
            // calls, as a slow SSLKEYLOGFILE writer would (tests/live.rs).
            let port: u16 = wanted.get(1).and_then(|p| p.parse().ok()).expect("tls-live PORT KEYLOG N");
            let keylog = std::path::PathBuf::from(wanted.get(2).expect("tls-live PORT KEYLOG N"));
            let n: usize = wanted.get(3).and_then(|n| n.parse().ok()).unwrap_or(1);
            tls::live(port, &keylog, n).await;
            return;
        }
        Some("call") => {
            let addr = wanted.get(1).expect("call ADDR N");
            let n: usize = wanted.get(2).and_then(|n| n.parse().ok()).unwrap_or(1);
            let mut c = InventoryClient::lazy_at(addr);
            for i in 0..n {
                c.get_part(get(&format!("sku-{i}"))).await.unwrap();
            }
            assert_eq!(c.get_part(get("missing-1")).await.unwrap_err().code(), tonic::Code::NotFound);
            return;
        }
        _ => {}
    }
    // GRPCSCOPE_FIXTURE_DIR: the tests regenerate scenarios elsewhere, to
    // check that fresh captures of real peers give what the committed ones do.
    let out_dir = std::env::var_os("GRPCSCOPE_FIXTURE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    std::fs::create_dir_all(&out_dir).unwrap();
    for s in SCENARIOS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == s.name) {
            continue;
        }
        let path = out_dir.join(format!("{}.pcap", s.name));
        let keys = out_dir.join(format!("{}.keys", s.name));
        let packets = match s.name {
            "tls13" => tls::tls13(s.port, &keys).await,
            "tls12" => tls::tls12(s.port, &keys).await,
            "tls_failures" => tls::tls_failures(s.port, &keys).await,
            "proxy_tls_upstream" => tls::proxy_tls_upstream().await,
            _ => run(s).await,
        };
        if s.name == "large_messages" {
            // Megabytes of one repeated byte: kept zstd-compressed, which
            // grpcscope (and tshark) read as is.
            let plain = path.with_extension("tmp");
            recorder::write_pcap(&plain, &packets);
            let bytes = std::fs::read(&plain).unwrap();
            std::fs::write(path.with_extension("pcap.zst"), zstd::encode_all(bytes.as_slice(), 19).unwrap()).unwrap();
            std::fs::remove_file(plain).unwrap();
        } else {
            recorder::write_pcap(&path, &packets);
        }
        println!("{:<16} {:>4} packets  {}", s.name, packets.packets.len(), s.about);
    }
}

async fn run(s: &Scenario) -> recorder::Recording {
    let filter = format!("tcp port {}", s.port);
    if s.name == "mid_connection" {
        return mid_connection(s.port, &filter).await;
    }
    if s.name == "reconnect" {
        return reconnect(s.port, &filter).await;
    }
    if s.name == "proxy" {
        return proxied().await;
    }
    if s.name == "ingress" {
        return ingress().await;
    }
    if s.name == "limits" {
        return limits(s.port, &filter).await;
    }
    if s.name == "keepalive" {
        return keepalive(s.port, &filter).await;
    }
    if s.name == "retries" {
        return retries(s.port, &filter).await;
    }
    if s.name == "l4_balancing" {
        return l4_balancing().await;
    }
    if s.name == "haproxy" {
        return through_haproxy().await;
    }
    if s.name == "large_messages" {
        return large_messages(s.port, &filter).await;
    }
    if s.name == "encodings" {
        return encodings(s.port, &filter).await;
    }
    if s.name == "ccore_keepalive" {
        return ccore_keepalive(s.port, &filter).await;
    }
    if s.name == "ccore_late_status" {
        return ccore_late_status().await;
    }
    if s.name == "haproxy_ccore" {
        return haproxy_ccore().await;
    }
    if s.name == "proxy_retries" {
        return proxy_retries().await;
    }
    if s.name == "goaway_error" {
        return goaway_error(s.port, &filter).await;
    }
    if s.name == "retransmissions" {
        return retransmissions(s.port, &filter).await;
    }
    if s.name == "slow_handshake" {
        return slow_handshake(s.port, &filter).await;
    }
    let reflection = (s.name == "reflection").then(encoded_descriptor_set);
    let rec = recorder::Recorder::start(&filter);
    let server = Running::start(s.port, reflection).await;
    let client = InventoryClient::lazy(s.port);
    match s.name {
        "unary" => unary(client).await,
        "streaming" => streaming(client).await,
        "errors" => errors(client).await,
        "deadline" => deadline(client).await,
        "cancel" => cancel(client).await,
        "compression" => compression(client).await,
        "metadata" => metadata(client).await,
        "traced" => trace_contexts(client).await,
        "reflection" => reflection_then_calls(s.port, client).await,
        "bench_seed" => bench_seed(client).await,
        "rapid_reset" => rapid_reset(client).await,
        other => panic!("no script for {other}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// A server running in the background until stopped.
struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts a server on `port` and gives it time to listen.
    async fn start(port: u16, reflection: Option<Vec<u8>>) -> Running {
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(port, reflection, async move {
            let _ = stop_rx.await;
        }));
        tokio::time::sleep(Duration::from_millis(150)).await;
        Running { stop, task }
    }

    /// Shuts it down gracefully (GOAWAY) and waits until it has.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

async fn unary(mut c: InventoryClient) {
    for sku in ["bolt-1", "gear-22", "spring-3", "bolt-4", "gear-5"] {
        c.get_part(get(sku)).await.unwrap();
    }
    assert_eq!(c.get_part(get("missing-9")).await.unwrap_err().code(), tonic::Code::NotFound);
}

async fn streaming(mut c: InventoryClient) {
    let mut parts = c.watch(WatchRequest { count: 5, interval_ms: 5 }).await.unwrap().into_inner();
    let mut n = 0;
    while let Some(p) = parts.message().await.unwrap() {
        assert_eq!(p.sku, "watched");
        n += 1;
    }
    assert_eq!(n, 5);
    let changes = vec![
        StockChange { sku: "bolt-1".into(), delta: 5 },
        StockChange { sku: "bolt-1".into(), delta: -2 },
        StockChange { sku: "gear-22".into(), delta: 10 },
        StockChange { sku: "spring-3".into(), delta: -1 },
    ];
    let summary = c.adjust(changes).await.unwrap().into_inner();
    assert_eq!((summary.changes, summary.total), (4, 12));
    let notes = (1..=3).map(|i| Note { text: format!("note {i}"), seq: i }).collect();
    assert_eq!(c.talk(notes).await.unwrap().len(), 3);
}

async fn errors(mut c: InventoryClient) {
    for sku in ["bad sku!", "missing-7", "deny", "quota", "crash", "locked"] {
        assert!(c.get_part(get(sku)).await.is_err(), "{sku} should fail");
    }
    assert_eq!(c.missing_method().await.unwrap_err().code(), tonic::Code::Unimplemented);
}

async fn deadline(mut c: InventoryClient) {
    let mut req = tonic::Request::new(GetPartRequest { sku: "slow-1".into(), delay_ms: 400 });
    req.set_timeout(Duration::from_millis(100));
    let err = c.get_part(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Cancelled, "tonic reports an expired deadline as {:?}", err);
    let mut ok = get("fast-1");
    ok.set_timeout(Duration::from_secs(5));
    c.get_part(ok).await.unwrap();
    // Let the server finish the abandoned call so its side shows on the wire.
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn cancel(mut c: InventoryClient) {
    let mut parts = c.watch(WatchRequest { count: 100, interval_ms: 20 }).await.unwrap().into_inner();
    for _ in 0..3 {
        parts.message().await.unwrap().unwrap();
    }
    drop(parts);
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.get_part(get("after-cancel")).await.unwrap();
}

async fn compression(c: InventoryClient) {
    let mut plain = c.clone();
    plain.get_part(get("plain-1")).await.unwrap();
    for enc in [CompressionEncoding::Gzip, CompressionEncoding::Zstd, CompressionEncoding::Deflate] {
        let mut z = c.compressed(enc);
        z.get_part(get("compressed-1")).await.unwrap();
        assert_eq!(z.watch_all(2).await, 2);
    }
    plain.get_part(get("plain-2")).await.unwrap();
}

async fn metadata(mut c: InventoryClient) {
    for i in 0..3 {
        let mut req = get(&format!("meta-{i}"));
        let md = req.metadata_mut();
        md.insert("x-echo", format!("req-{i}").parse().unwrap());
        md.insert("x-tenant", "acme corp".parse().unwrap());
        md.insert("x-request-id", format!("rid-{i:04}").parse().unwrap());
        md.insert_bin("x-raw-bin", tonic::metadata::MetadataValue::from_bytes(&[0, 0, 0xff, 0x80, i as u8]));
        let resp = c.get_part(req).await.unwrap();
        assert!(resp.metadata().get("x-echo").is_some());
    }
    let mut req = get("missing-meta");
    req.metadata_mut().insert("x-request-id", "rid-9999".parse().unwrap());
    let err = c.get_part(req).await.unwrap_err();
    assert_eq!(err.metadata().get("x-failure-zone").unwrap(), "stock-db");
}

/// Calls with the trace context headers tracers send (OpenTelemetry's W3C
/// propagator, Zipkin's B3 single and multi), one malformed, one with none,
/// and a NOT_FOUND in a trace: the spans `--otlp` exports join these traces.
async fn trace_contexts(mut c: InventoryClient) {
    let calls: [(&str, &[(&str, &str)]); 6] = [
        ("traced-w3c", &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]),
        ("traced-b3", &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")]),
        (
            "traced-b3-multi",
            &[("x-b3-traceid", "a3ce929d0e0e4736"), ("x-b3-spanid", "05e3ac9a4f6e3b90"), ("x-b3-sampled", "0")],
        ),
        ("traced-malformed", &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")]),
        ("untraced", &[]),
        (
            "missing-traced",
            &[
                ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                ("x-request-id", "rid-traced"),
            ],
        ),
    ];
    for (sku, headers) in calls {
        let mut req = get(sku);
        for (name, value) in headers {
            req.metadata_mut().insert(*name, value.parse().unwrap());
        }
        let r = c.get_part(req).await;
        assert_eq!(r.is_ok(), !sku.starts_with("missing"), "{sku}");
    }
}

/// The seed of the benchmark captures (examples/benchgen.rs replays it):
/// four workers share one connection, so streams interleave as they do in
/// production; mostly unary calls, some NOT_FOUND, and every streaming kind.
async fn bench_seed(c: InventoryClient) {
    let workers = (0..4).map(|w| {
        let mut c = c.clone();
        tokio::spawn(async move {
            for i in 0..250 {
                match i % 25 {
                    7 => assert_eq!(c.watch_all(5).await, 5),
                    14 => {
                        let changes =
                            (0..4).map(|d| StockChange { sku: format!("sku-{w}-{i}"), delta: d - 1 }).collect();
                        c.adjust(changes).await.unwrap();
                    }
                    21 => {
                        let notes = (1..=3).map(|n| Note { text: format!("note {w}/{i}/{n}"), seq: n }).collect();
                        c.talk(notes).await.unwrap();
                    }
                    _ if i % 10 == 3 => assert!(c.get_part(get(&format!("missing-{w}-{i}"))).await.is_err()),
                    _ => {
                        c.get_part(get(&format!("sku-{w}-{i}"))).await.unwrap();
                    }
                }
            }
        })
    });
    for w in workers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
}

/// The fixture schema as an encoded FileDescriptorSet, compiled by protox.
fn encoded_descriptor_set() -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protos");
    let fds = protox::compile(["grpcscope/fixtures/v1/inventory.proto"], [root]).expect("compile fixture proto");
    prost::Message::encode_to_vec(&fds)
}

async fn reflection_then_calls(port: u16, mut c: InventoryClient) {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let channel =
        tonic::transport::Endpoint::try_from(format!("http://127.0.0.1:{port}")).unwrap().connect().await.unwrap();
    let mut refl = ServerReflectionClient::new(channel);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(SERVICE.into())),
        },
    ];
    let mut answers = refl.server_reflection_info(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut n = 0;
    while let Some(a) = answers.message().await.unwrap() {
        assert!(a.message_response.is_some());
        n += 1;
    }
    assert_eq!(n, 2);
    c.get_part(get("reflected-1")).await.unwrap();
    assert_eq!(c.watch_all(2).await, 2);
}

async fn reconnect(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let mut c = InventoryClient::lazy(port);
    for round in 0..3 {
        let server = Running::start(port, None).await;
        for i in 0..3 {
            c.get_part(get(&format!("round{round}-{i}"))).await.unwrap();
        }
        server.stop().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if round < 2 {
            // The server is down: this call fails with UNAVAILABLE (a refused SYN on the wire).
            assert!(c.get_part(get("while-down")).await.is_err());
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// A request carrying an x-request-id, the way a proxy chain correlates legs.
fn traced(sku: &str, delay_ms: i32, rid: &str) -> tonic::Request<GetPartRequest> {
    let mut r = tonic::Request::new(GetPartRequest { sku: sku.into(), delay_ms });
    r.metadata_mut().insert("x-request-id", rid.parse().unwrap());
    r
}

async fn proxied() -> recorder::Recording {
    let filter = format!("tcp port {} or tcp port {}", proxy::FRONT, proxy::UPSTREAM);
    let rec = recorder::Recorder::start(&filter);
    let _nginx = proxy::Nginx::start();
    let server = Running::start(proxy::UPSTREAM, None).await;
    let mut c = InventoryClient::lazy(proxy::FRONT);
    c.get_part(traced("bolt-1", 0, "rid-ok")).await.unwrap();
    let nf = c.get_part(traced("missing-5", 0, "rid-notfound")).await.unwrap_err();
    assert_eq!(nf.code(), tonic::Code::NotFound);
    // The server takes 600 ms; nginx gives up after 300 ms and answers 504
    // with an HTML page (tonic then reports INTERNAL, failing to parse it).
    assert!(c.get_part(traced("slow-1", 600, "rid-timeout")).await.is_err());
    // The client's own deadline, through the proxy.
    let mut dl = traced("slow-2", 250, "rid-deadline");
    dl.set_timeout(Duration::from_millis(100));
    assert!(c.get_part(dl).await.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Nothing listens upstream: nginx's connect is refused; it answers 502.
    assert!(c.get_part(traced("bolt-2", 0, "rid-down")).await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

async fn mid_connection(port: u16, filter: &str) -> recorder::Recording {
    let server = Running::start(port, None).await;
    let mut c = InventoryClient::lazy(port);
    for i in 0..3 {
        c.get_part(get(&format!("warm-{i}"))).await.unwrap();
    }
    let rec = recorder::Recorder::start(filter);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..5 {
        c.get_part(get(&format!("seen-{i}"))).await.unwrap();
    }
    c.get_part(get("missing-late")).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// Two limits a tonic peer enforces, each reached by a real client: the
/// server's SETTINGS_MAX_CONCURRENT_STREAMS (2), so that of 8 concurrent
/// calls 6 wait in the client for a stream to close; and a 16 KiB stream
/// window on a client that reads a server stream slowly, so that the server
/// sits at a zero window until the client's WINDOW_UPDATE.
async fn limits(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let builder = tonic::transport::Server::builder().max_concurrent_streams(2);
    let task = tokio::spawn(serve_with(builder, ([127, 0, 0, 1], port).into(), None, async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut c = InventoryClient::lazy(port);
    // One call first, so the client has the server's SETTINGS (and queues
    // calls beyond the limit) before the eight start: streams opened before
    // them are refused (REFUSED_STREAM).
    c.get_part(get("warm-up")).await.unwrap();
    let calls = (0..8).map(|i| {
        let mut c = c.clone();
        tokio::spawn(async move {
            let req = tonic::Request::new(GetPartRequest { sku: format!("queued-{i}"), delay_ms: 100 });
            c.get_part(req).await.unwrap();
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap();
    }
    let channel = tonic::transport::Endpoint::try_from(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .initial_stream_window_size(16 * 1024)
        .connect()
        .await
        .unwrap();
    let mut slow = InventoryClient::from_channel(channel);
    let mut parts = slow.watch(WatchRequest { count: 300, interval_ms: 0 }).await.unwrap().into_inner();
    let mut n = 0;
    while parts.message().await.unwrap().is_some() {
        n += 1;
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    assert_eq!(n, 300);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    task.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// The Rapid Reset pattern (CVE-2023-44487) from a real client: 150 calls
/// started together and each dropped 20 ms later, so the client resets
/// every stream it opened (a fan-out that gave up looks the same).
async fn rapid_reset(mut c: InventoryClient) {
    c.get_part(get("warm-up")).await.unwrap();
    let calls = (0..150).map(|i| {
        let mut c = c.clone();
        tokio::spawn(async move {
            let req = tonic::Request::new(GetPartRequest { sku: format!("abandoned-{i}"), delay_ms: 1000 });
            let gave_up = tokio::time::timeout(Duration::from_millis(20), c.get_part(req)).await;
            assert!(gave_up.is_err(), "call {i} should still be running");
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.get_part(get("after-resets")).await.unwrap();
}

/// nginx as an ingress controller runs it: the client sends no request id,
/// nginx adds one on the upstream leg only, so the legs pair by method and
/// request, not by id.
async fn ingress() -> recorder::Recording {
    let filter = format!("tcp port {} or tcp port {}", proxy::INGRESS_FRONT, proxy::INGRESS_UPSTREAM);
    let rec = recorder::Recorder::start(&filter);
    let _nginx = proxy::Nginx::ingress();
    let server = Running::start(proxy::INGRESS_UPSTREAM, None).await;
    let mut c = InventoryClient::lazy(proxy::INGRESS_FRONT);
    c.get_part(get("bolt-7")).await.unwrap();
    assert_eq!(c.get_part(get("missing-8")).await.unwrap_err().code(), tonic::Code::NotFound);
    let slow = tonic::Request::new(GetPartRequest { sku: "slow-9".into(), delay_ms: 600 });
    assert!(c.get_part(slow).await.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// A client whose keepalive pings every 200 ms, also while idle
/// (`keep_alive_while_idle`), through a 1.2 s call the server answers at
/// the end and an idle second: tonic's server accepts them all, while a
/// C-core or grpc-go server with default enforcement (one ping per 5
/// minutes without data) would end the connection with too_many_pings.
async fn keepalive(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let server = Running::start(port, None).await;
    let channel = tonic::transport::Endpoint::try_from(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .http2_keep_alive_interval(Duration::from_millis(200))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .connect()
        .await
        .unwrap();
    let mut c = InventoryClient::from_channel(channel);
    c.get_part(get("ping-1")).await.unwrap();
    c.get_part(tonic::Request::new(GetPartRequest { sku: "slow-ping".into(), delay_ms: 1200 })).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.get_part(get("ping-2")).await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// A client retry policy at work, the way C-core and grpc-js run one: a
/// call that fails UNAVAILABLE is sent again, with the same metadata and
/// `grpc-previous-rpc-attempts: 1`, on a new connection to the same server.
/// Every fourth SKU is `flaky-`: the server fails its first request.
async fn retries(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let server = Running::start(port, None).await;
    retrying_client(port, 40, "rid-retry").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// Kubernetes' Service balancing, reproduced with HAProxy in `mode tcp`
/// (round robin per connection, as kube-proxy balances): three replicas of
/// the server on 127.0.0.2-4, two channels that each keep one connection.
/// The busy channel's 80 calls all go to one replica, the quiet one's 20
/// to another, and the third replica, whose health checks are on the wire,
/// serves nothing.
async fn l4_balancing() -> recorder::Recording {
    let filter = format!("tcp port {} or tcp port {}", proxy::L4_FRONT, proxy::L4_REPLICA_PORT);
    let rec = recorder::Recorder::start(&filter);
    let mut replicas = Vec::new();
    for host in proxy::L4_REPLICAS {
        let (stop, stop_rx) = oneshot::channel::<()>();
        let addr = std::net::SocketAddr::from((host, proxy::L4_REPLICA_PORT));
        let task = tokio::spawn(serve_at(addr, None, async move {
            let _ = stop_rx.await;
        }));
        replicas.push(Running { stop, task });
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let haproxy = proxy::Haproxy::start();
    let mut busy = InventoryClient::lazy(proxy::L4_FRONT);
    busy.get_part(get("busy-warm")).await.unwrap();
    let mut quiet = InventoryClient::lazy(proxy::L4_FRONT);
    quiet.get_part(get("quiet-warm")).await.unwrap();
    for i in 0..79 {
        busy.get_part(get(&format!("busy-{i}"))).await.unwrap();
        if i % 4 == 0 {
            quiet.get_part(get(&format!("quiet-{i}"))).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop((busy, quiet));
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(haproxy);
    for r in replicas {
        r.stop().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// The cross-hop cases through a second real proxy: HAProxy in mode http
/// speaking HTTP/2 both ways, which adds an x-request-id on the upstream
/// leg only. An OK call, a NOT_FOUND passed through, a call the server
/// answers after HAProxy's 300 ms `timeout server` (HAProxy answers 504),
/// and a call while nothing listens upstream (HAProxy answers 503).
async fn through_haproxy() -> recorder::Recording {
    let filter = format!("tcp port {} or tcp port {}", proxy::H7_FRONT, proxy::H7_UPSTREAM);
    let rec = recorder::Recorder::start(&filter);
    let server = Running::start(proxy::H7_UPSTREAM, None).await;
    let haproxy = proxy::Haproxy::grpc();
    let mut c = InventoryClient::lazy(proxy::H7_FRONT);
    c.get_part(get("bolt-11")).await.unwrap();
    assert_eq!(c.get_part(get("missing-12")).await.unwrap_err().code(), tonic::Code::NotFound);
    let slow = tonic::Request::new(GetPartRequest { sku: "slow-13".into(), delay_ms: 600 });
    assert!(c.get_part(slow).await.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(c.get_part(get("bolt-14")).await.is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(haproxy);
    tokio::time::sleep(Duration::from_millis(200)).await;
    rec.stop()
}

/// A lost SYN, the way servers lose them: the listen queue is full (one
/// connection nobody accepted yet fills a backlog of 0), so the kernel
/// drops the client's SYN and the client's kernel sends it again after its
/// 1 s retransmission timeout. The server starts accepting at 500 ms; the
/// second SYN gets its SYN-ACK, and the call goes through.
async fn slow_handshake(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    let listener = socket.listen(0).unwrap();
    let filler = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tonic::transport::Server::builder()
            .add_service(InventoryServer)
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async move {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut c = InventoryClient::lazy(port);
    c.get_part(get("after-a-lost-syn")).await.unwrap();
    drop(filler);
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    server.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// An iptables rule, deleted on drop.
struct Netfilter(Vec<String>);

impl Netfilter {
    /// Drops at random `share` of the TCP packets arriving for `port`. They
    /// are captured on lo before the receiving side drops them, so the
    /// capture holds each lost segment and its retransmission.
    fn drop_to(port: u16, share: f64) -> Netfilter {
        let rule: Vec<String> =
            format!("INPUT -p tcp --dport {port} -m statistic --mode random --probability {share} -j DROP")
                .split(' ')
                .map(str::to_string)
                .collect();
        let ok = std::process::Command::new("iptables")
            .arg("-I")
            .args(&rule)
            .status()
            .expect("iptables (apt-get install iptables)");
        assert!(ok.success(), "iptables -I {rule:?}");
        Netfilter(rule)
    }
}

impl Drop for Netfilter {
    fn drop(&mut self) {
        let _ = std::process::Command::new("iptables").arg("-D").args(&self.0).status();
    }
}

/// Packet loss on a connection: after the first call (so that no SYN is
/// lost), netfilter drops 12% of the packets to the server for 80 calls.
async fn retransmissions(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let server = Running::start(port, None).await;
    let mut c = InventoryClient::lazy(port);
    c.get_part(get("before-loss")).await.unwrap();
    let loss = Netfilter::drop_to(port, 0.12);
    for i in 0..80 {
        c.get_part(get(&format!("lossy-{i}"))).await.unwrap();
    }
    drop(loss);
    c.get_part(get("after-loss")).await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// Messages against gRPC's 4 MiB default receive limit, which tonic's
/// server keeps: 3.8 MiB goes through (close to failing), 4.5 MiB does
/// not. A client stream of one change whose SKU carries the bulk.
async fn large_messages(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let server = Running::start(port, None).await;
    let mut c = InventoryClient::lazy(port);
    // Adjust answers with a small Summary, so only the request is large.
    let big = |mib: f64| vec![StockChange { sku: "x".repeat((mib * 1048576.0) as usize), delta: 1 }];
    c.adjust(big(3.8)).await.unwrap();
    let refused = c.adjust(big(4.5)).await.unwrap_err();
    println!("large_messages: 4.5 MiB refused with {:?}: {}", refused.code(), refused.message());
    c.get_part(get("small-after")).await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// A client compressing with a codec the server does not accept: tonic's
/// server answers UNIMPLEMENTED and lists what it takes in
/// grpc-accept-encoding.
async fn encodings(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(GzipOnlyServer)
            .serve_with_shutdown(addr, async move {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let c = InventoryClient::lazy(port);
    c.compressed(CompressionEncoding::Gzip).get_part(get("gzip-ok")).await.unwrap();
    for i in 0..3 {
        let refused = c.compressed(CompressionEncoding::Zstd).get_part(get(&format!("zstd-{i}"))).await.unwrap_err();
        println!("encodings: zstd refused with {:?}: {}", refused.code(), refused.message());
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    task.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// A C-core server (Python grpcio, examples/fixturegen/ccore_server.py),
/// stopped on drop.
struct CCore(std::process::Child);

impl CCore {
    /// Starts the server on `port`. The port is in Linux's ephemeral range,
    /// so on a busy machine another program's outgoing connection may hold
    /// it for a moment: a few tries.
    fn start(port: u16) -> CCore {
        use std::io::BufRead;
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fixturegen/ccore_server.py");
        for _ in 0..10 {
            let mut child = std::process::Command::new("python3")
                .arg(&script)
                .arg(port.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3 with grpcio (python3 -m pip install grpcio)");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            if line.trim() == "ready" {
                return CCore(child);
            }
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("the C-core server did not start on port {port} (python3 -m pip install grpcio)");
    }
}

impl Drop for CCore {
    fn drop(&mut self) {
        // SIGTERM: the script stops its server gracefully (GOAWAY).
        let _ = std::process::Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// The keepalive scenario against a server that enforces gRPC's policy: a
/// C-core server takes one ping per 5 minutes while it sends nothing, so
/// the client's pings every 200 ms through a slow call earn strikes, and
/// the third ends the connection with GOAWAY ENHANCE_YOUR_CALM
/// "too_many_pings".
async fn ccore_keepalive(port: u16, filter: &str) -> recorder::Recording {
    let rec = recorder::Recorder::start(filter);
    let server = CCore::start(port);
    let channel = tonic::transport::Endpoint::try_from(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .http2_keep_alive_interval(Duration::from_millis(200))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .connect_lazy();
    let mut c = InventoryClient::from_channel(channel);
    c.get_part(get("ping-1")).await.unwrap();
    let slow = c.get_part(tonic::Request::new(GetPartRequest { sku: "slow-ping".into(), delay_ms: 1500 })).await;
    println!(
        "ccore_keepalive: the slow call ended {:?}",
        slow.as_ref().map(|_| ()).map_err(|e| (e.code(), e.message().to_string()))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(c);
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// nginx's 300 ms grpc_read_timeout in front of a C-core server that
/// answers after 600 ms.
async fn ccore_late_status() -> recorder::Recording {
    let filter = format!("tcp port {} or tcp port {}", proxy::LATE_FRONT, proxy::LATE_UPSTREAM);
    let rec = recorder::Recorder::start(&filter);
    let server = CCore::start(proxy::LATE_UPSTREAM);
    let nginx = proxy::Nginx::late();
    let mut c = InventoryClient::lazy(proxy::LATE_FRONT);
    c.get_part(traced("bolt-3", 0, "rid-before")).await.unwrap();
    assert!(c.get_part(traced("slow-late", 600, "rid-late")).await.is_err());
    tokio::time::sleep(Duration::from_millis(600)).await;
    drop(c);
    drop(nginx);
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// A real server's answer to a client that breaks HTTP/2: after the
/// preface and SETTINGS the client sends a connection WINDOW_UPDATE with
/// an increment of 0, which RFC 9113 §6.9 makes a connection error; the
/// tonic (h2) server ends the connection with GOAWAY PROTOCOL_ERROR. A
/// good client's call follows, answered as usual.
async fn goaway_error(port: u16, filter: &str) -> recorder::Recording {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rec = recorder::Recorder::start(filter);
    let server = Running::start(port, None).await;
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    raw.write_all(&bytes).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), raw.read_to_end(&mut answer)).await;
    drop(raw);
    let mut c = InventoryClient::lazy(port);
    c.get_part(get("after-the-broken-client")).await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// `n` calls with an x-request-id each; every fourth SKU fails once
/// (`flaky-`), the one before last always (`down-`). A call that fails
/// UNAVAILABLE is sent again, with the same metadata and
/// `grpc-previous-rpc-attempts: 1`, on a new connection to `port`.
async fn retrying_client(port: u16, n: usize, ids: &str) {
    let mut c = InventoryClient::lazy(port);
    for i in 0..n {
        let sku = match i {
            _ if i == n - 2 => format!("down-{i}"),
            _ if i % 4 == 1 => format!("flaky-{i}"),
            _ => format!("item-{i}"),
        };
        let rid = format!("{ids}-{i:02}");
        let Err(e) = c.get_part(traced(&sku, 0, &rid)).await else { continue };
        assert_eq!(e.code(), tonic::Code::Unavailable, "{sku}");
        // The retry goes out on a new connection (the old one is closed).
        c = InventoryClient::lazy(port);
        let mut again = traced(&sku, 0, &rid);
        again.metadata_mut().insert("grpc-previous-rpc-attempts", "1".parse().unwrap());
        let retried = c.get_part(again).await;
        assert_eq!(retried.is_err(), sku.starts_with("down-"), "{sku}");
    }
}

/// Retries through a proxy: the client's attempts reach nginx on new
/// connections and nginx passes each (with its x-request-id) upstream, so
/// each hop has two attempts, not each attempt a hop.
async fn proxy_retries() -> recorder::Recording {
    let filter = format!("tcp port {} or tcp port {}", proxy::RETRY_FRONT, proxy::RETRY_UPSTREAM);
    let rec = recorder::Recorder::start(&filter);
    let server = Running::start(proxy::RETRY_UPSTREAM, None).await;
    let nginx = proxy::Nginx::retries();
    retrying_client(proxy::RETRY_FRONT, 20, "rid-proxied").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(nginx);
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}

/// The retry and late-answer cases through HAProxy, with a C-core server
/// behind it: retries reach HAProxy on new connections and keep the
/// client's x-request-id upstream; a call the server answers after 600 ms
/// meets HAProxy's 300 ms `timeout server` (HAProxy resets the upstream
/// stream and answers 504).
async fn haproxy_ccore() -> recorder::Recording {
    let filter = format!("tcp port {} or tcp port {}", proxy::H7C_FRONT, proxy::H7C_UPSTREAM);
    let rec = recorder::Recorder::start(&filter);
    let server = CCore::start(proxy::H7C_UPSTREAM);
    let haproxy = proxy::Haproxy::propagating();
    retrying_client(proxy::H7C_FRONT, 12, "rid-haproxy").await;
    let mut c = InventoryClient::lazy(proxy::H7C_FRONT);
    assert!(c.get_part(traced("slow-haproxy", 600, "rid-haproxy-slow")).await.is_err());
    tokio::time::sleep(Duration::from_millis(600)).await;
    drop(c);
    drop(haproxy);
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}
