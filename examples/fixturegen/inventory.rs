//! The fixture service `grpcscope.fixtures.v1.Inventory` (see
//! protos/grpcscope/fixtures/v1/inventory.proto) as a real tonic server and
//! client. Messages are declared with prost's derive instead of generated,
//! so no protoc is needed; the tags match the .proto file.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use http::uri::PathAndQuery;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;
use tonic_types::{
    BadRequest, DebugInfo, ErrorDetail, ErrorInfo, Help, LocalizedMessage, PreconditionFailure, QuotaFailure,
    RequestInfo, ResourceInfo, RetryInfo, StatusExt,
};

pub const SERVICE: &str = "grpcscope.fixtures.v1.Inventory";

#[derive(Clone, PartialEq, prost::Message)]
pub struct Part {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(enumeration = "PartKind", tag = "3")]
    pub kind: i32,
    #[prost(int64, tag = "4")]
    pub stock: i64,
    #[prost(double, tag = "5")]
    pub price: f64,
    #[prost(string, repeated, tag = "6")]
    pub tags: Vec<String>,
    #[prost(bytes = "vec", tag = "7")]
    pub photo: Vec<u8>,
    #[prost(message, optional, tag = "8")]
    pub updated: Option<prost_types::Timestamp>,
    #[prost(btree_map = "string, int32", tag = "9")]
    pub bins: BTreeMap<String, i32>,
    #[prost(sint32, tag = "10")]
    pub delta: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PartKind {
    Unspecified = 0,
    Bolt = 1,
    Gear = 2,
    Spring = 3,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetPartRequest {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(int32, tag = "2")]
    pub delay_ms: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchRequest {
    #[prost(int32, tag = "1")]
    pub count: i32,
    #[prost(int32, tag = "2")]
    pub interval_ms: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StockChange {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(sint32, tag = "2")]
    pub delta: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(int32, tag = "1")]
    pub changes: i32,
    #[prost(int64, tag = "2")]
    pub total: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(int64, tag = "2")]
    pub seq: i64,
}

/// The part the server returns for `sku`: every field derived from the SKU
/// so fixtures are reproducible and tests can predict values.
pub fn part_for(sku: &str, n: u32) -> Part {
    let seed: u32 = sku.bytes().map(u32::from).sum::<u32>() + n;
    let mut bins = BTreeMap::new();
    bins.insert("A1".to_string(), (seed % 7) as i32);
    bins.insert("B2".to_string(), (seed % 11) as i32);
    Part {
        sku: sku.to_string(),
        name: format!("Part {sku} — “ünïcode” ✓"),
        kind: (seed % 3 + 1) as i32,
        stock: i64::from(seed) * 1000 + 7,
        price: f64::from(seed % 100) + 0.25,
        tags: (0..(seed % 3 + 1)).map(|i| format!("tag{i}")).collect(),
        photo: (0..8).map(|i| (seed as u8).wrapping_mul(31).wrapping_add(i)).collect(),
        updated: Some(prost_types::Timestamp { seconds: 1_700_000_000 + i64::from(seed), nanos: 500_000_000 }),
        bins,
        delta: -(seed as i32 % 50),
    }
}

fn codec<T, U>() -> ProstCodec<T, U> {
    ProstCodec::default()
}

fn grpc_server<T, U>() -> tonic::server::Grpc<ProstCodec<T, U>>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    tonic::server::Grpc::new(codec())
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Deflate)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Deflate)
}

/// The error a SKU asks for, with the standard error details.
fn error_for(sku: &str) -> Option<Status> {
    let details = |code, msg: &str, d: Vec<ErrorDetail>| Some(Status::with_error_details_vec(code, msg, d));
    match sku {
        s if s.starts_with("missing-") => Some(Status::not_found(format!("part {s} not found"))),
        s if s.contains(' ') || s.contains('!') => details(
            Code::InvalidArgument,
            "invalid sku: must match [a-z0-9-]+ (got 100% wrong)",
            vec![
                BadRequest::with_violation("sku", "contains spaces or punctuation").into(),
                ErrorInfo::new("SKU_FORMAT", "inventory.fixtures", [("sku".to_string(), s.to_string())]).into(),
            ],
        ),
        "deny" => Some(Status::permission_denied("accès refusé\nzone: ünïcode ✓")),
        "quota" => details(
            Code::ResourceExhausted,
            "read quota exhausted",
            vec![
                RetryInfo::new(Some(Duration::from_millis(1500))).into(),
                QuotaFailure::with_violation("project:fixtures", "reads per minute").into(),
            ],
        ),
        "crash" => details(
            Code::Internal,
            "the part index is corrupt",
            vec![DebugInfo::new(vec!["index.rs:42".into(), "main.rs:7".into()], "checksum mismatch").into()],
        ),
        "locked" => details(
            Code::FailedPrecondition,
            "the part is locked for audit",
            vec![
                PreconditionFailure::with_violation("AUDIT", "parts/locked", "an audit is running").into(),
                ResourceInfo::new("inventory.Part", "locked", "auditor", "wait for the audit").into(),
                RequestInfo::new("req-7f3a", "").into(),
                Help::with_link("audit runbook", "https://example.test/runbooks/audit").into(),
                LocalizedMessage::new("fr-FR", "la pièce est verrouillée").into(),
            ],
        ),
        _ => None,
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The server: routes by `:path`, like generated code would.
#[derive(Clone, Default)]
pub struct InventoryServer;

impl tonic::server::NamedService for InventoryServer {
    const NAME: &'static str = SERVICE;
}

impl tower::Service<http::Request<Body>> for InventoryServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let method = req.uri().path().rsplit('/').next().unwrap_or_default().to_string();
        Box::pin(async move {
            let resp = match method.as_str() {
                "GetPart" => grpc_server().unary(tower::service_fn(get_part), req).await,
                "Watch" => grpc_server().server_streaming(tower::service_fn(watch), req).await,
                "Adjust" => grpc_server().client_streaming(tower::service_fn(adjust), req).await,
                "Talk" => grpc_server().streaming(tower::service_fn(talk), req).await,
                _ => Status::unimplemented(format!("no method {method} on {SERVICE}")).into_http(),
            };
            Ok(resp)
        })
    }
}

async fn get_part(req: Request<GetPartRequest>) -> Result<Response<Part>, Status> {
    let echo = req.metadata().get("x-echo").cloned();
    let r = req.into_inner();
    if r.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(r.delay_ms as u64)).await;
    }
    if r.sku.starts_with("flaky-") && first_attempt(&r.sku) {
        return Err(Status::unavailable("warming up: try again"));
    }
    if r.sku.starts_with("down-") {
        return Err(Status::unavailable("stock service down"));
    }
    if let Some(mut err) = error_for(&r.sku) {
        err.metadata_mut().insert("x-failure-zone", "stock-db".parse().unwrap());
        return Err(err);
    }
    let mut resp = Response::new(part_for(&r.sku, 0));
    if let Some(v) = echo {
        resp.metadata_mut().insert("x-echo", v);
        resp.metadata_mut()
            .insert_bin("x-served-by-bin", tonic::metadata::MetadataValue::from_bytes(&[0, 1, 0xfe, 0xff]));
    }
    Ok(resp)
}

/// Whether this is the first request for `sku` the process has seen (the
/// `retries` scenario's server fails those of `flaky-` SKUs once).
fn first_attempt(sku: &str) -> bool {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap();
    if seen.iter().any(|s| s == sku) {
        return false;
    }
    seen.push(sku.to_string());
    true
}

type PartStream = ReceiverStream<Result<Part, Status>>;

async fn watch(req: Request<WatchRequest>) -> Result<Response<PartStream>, Status> {
    let r = req.into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for i in 0..r.count.max(0) as u32 {
            if tx.send(Ok(part_for("watched", i))).await.is_err() {
                return;
            }
            if r.interval_ms > 0 {
                tokio::time::sleep(Duration::from_millis(r.interval_ms as u64)).await;
            }
        }
    });
    Ok(Response::new(ReceiverStream::new(rx)))
}

async fn adjust(req: Request<Streaming<StockChange>>) -> Result<Response<Summary>, Status> {
    let mut stream = req.into_inner();
    let mut s = Summary::default();
    while let Some(change) = stream.next().await {
        let change = change?;
        s.changes += 1;
        s.total += i64::from(change.delta);
    }
    Ok(Response::new(s))
}

type NoteStream = ReceiverStream<Result<Note, Status>>;

async fn talk(req: Request<Streaming<Note>>) -> Result<Response<NoteStream>, Status> {
    let mut stream = req.into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(Ok(note)) = stream.next().await {
            let echo = Note { text: format!("echo: {}", note.text), seq: note.seq * 10 };
            if tx.send(Ok(echo)).await.is_err() {
                return;
            }
        }
    });
    Ok(Response::new(ReceiverStream::new(rx)))
}

/// The Inventory service as a server that decompresses gzip only (the
/// `encodings` scenario: a client compressing with zstd is refused).
#[derive(Clone, Default)]
pub struct GzipOnlyServer;

impl tonic::server::NamedService for GzipOnlyServer {
    const NAME: &'static str = SERVICE;
}

impl tower::Service<http::Request<Body>> for GzipOnlyServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(codec()).accept_compressed(CompressionEncoding::Gzip);
            Ok(grpc.unary(tower::service_fn(get_part), req).await)
        })
    }
}

/// Serves the Inventory service (and reflection when `reflection` is
/// given an encoded FileDescriptorSet) on 127.0.0.1:`port` until `stop` resolves.
pub async fn serve(port: u16, reflection: Option<Vec<u8>>, stop: impl Future<Output = ()> + Send + 'static) {
    serve_at(([127, 0, 0, 1], port).into(), reflection, stop).await
}

/// Serves on any address (the netns tests listen on a veth address).
pub async fn serve_at(
    addr: std::net::SocketAddr,
    reflection: Option<Vec<u8>>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    serve_with(tonic::transport::Server::builder(), addr, reflection, stop).await
}

/// Serves with a server configured by the caller (limits, windows).
pub async fn serve_with(
    mut builder: tonic::transport::Server,
    addr: std::net::SocketAddr,
    reflection: Option<Vec<u8>>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let router = match reflection {
        Some(fds) => {
            let refl = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(&fds)
                .build_v1()
                .expect("reflection service");
            builder.add_service(InventoryServer).add_service(refl)
        }
        None => builder.add_service(InventoryServer),
    };
    router.serve_with_shutdown(addr, stop).await.expect("serve");
}

/// A client on one channel.
#[derive(Clone)]
pub struct InventoryClient {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

fn path(method: &str) -> PathAndQuery {
    PathAndQuery::try_from(format!("/{SERVICE}/{method}")).unwrap()
}

impl InventoryClient {
    /// A lazily connecting client: it (re)connects when a call needs it.
    pub fn lazy(port: u16) -> Self {
        Self::lazy_at(&format!("127.0.0.1:{port}"))
    }

    /// A lazily connecting client of `addr` (`host:port`).
    pub fn lazy_at(addr: &str) -> Self {
        let channel = tonic::transport::Endpoint::try_from(format!("http://{addr}")).unwrap().connect_lazy();
        Self::from_channel(channel)
    }

    /// A client on a channel built elsewhere (the TLS scenarios' connector).
    pub fn from_channel(channel: tonic::transport::Channel) -> Self {
        InventoryClient { grpc: tonic::client::Grpc::new(channel) }
    }

    /// The same channel, compressing requests with `enc`.
    pub fn compressed(&self, enc: CompressionEncoding) -> Self {
        InventoryClient { grpc: self.grpc.clone().send_compressed(enc).accept_compressed(enc) }
    }

    pub async fn get_part(&mut self, req: Request<GetPartRequest>) -> Result<Response<Part>, Status> {
        self.grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        self.grpc.unary(req, path("GetPart"), codec()).await
    }

    /// Calls a method the server does not have (UNIMPLEMENTED).
    pub async fn missing_method(&mut self) -> Result<Response<Part>, Status> {
        self.grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        self.grpc
            .unary(Request::new(GetPartRequest { sku: "x".into(), delay_ms: 0 }), path("Discontinue"), codec())
            .await
    }

    pub async fn watch(&mut self, req: WatchRequest) -> Result<Response<Streaming<Part>>, Status> {
        self.grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        self.grpc.server_streaming(Request::new(req), path("Watch"), codec()).await
    }

    /// Watches `count` parts to the end of the stream; returns how many came.
    pub async fn watch_all(&mut self, count: i32) -> usize {
        let mut parts = self.watch(WatchRequest { count, interval_ms: 0 }).await.unwrap().into_inner();
        let mut n = 0;
        while parts.message().await.unwrap().is_some() {
            n += 1;
        }
        n
    }

    pub async fn adjust(&mut self, changes: Vec<StockChange>) -> Result<Response<Summary>, Status> {
        self.grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        self.grpc.client_streaming(Request::new(tokio_stream::iter(changes)), path("Adjust"), codec()).await
    }

    pub async fn talk(&mut self, notes: Vec<Note>) -> Result<Vec<Note>, Status> {
        self.grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let mut replies =
            self.grpc.streaming(Request::new(ReceiverStream::new(rx)), path("Talk"), codec()).await?.into_inner();
        let mut out = Vec::new();
        // One note at a time, waiting for its echo: a real ping-pong on the wire.
        for note in notes {
            tx.send(note).await.map_err(|_| Status::internal("stream closed"))?;
            if let Some(reply) = replies.next().await {
                out.push(reply?);
            }
        }
        drop(tx);
        while let Some(reply) = replies.next().await {
            out.push(reply?);
        }
        Ok(out)
    }
}

/// A request for `sku`.
pub fn get(sku: &str) -> Request<GetPartRequest> {
    Request::new(GetPartRequest { sku: sku.to_string(), delay_ms: 0 })
}
