//! The TLS scenarios: the Inventory service behind rustls, with the client's
//! NSS key log written beside the capture (`fixtures/NAME.keys`), so the
//! decryption tests have real handshakes of every suite HTTP/2 permits.
//!
//! The certificates are made afresh by rcgen on every run: a CA, the
//! server's certificate for `inventory.fixtures.internal`, a client
//! certificate for mTLS, and a second, unrelated CA that a client trusts
//! when a scenario needs a verification failure.

use crate::inventory::{InventoryClient, InventoryServer};
use crate::recorder::{Recorder, Recording};
use hyper_util::rt::TokioIo;
use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The name the server's certificate is for, sent as SNI.
pub const SERVER_NAME: &str = "inventory.fixtures.internal";

/// The scenarios' certificates and keys.
pub struct Pki {
    ca: CertificateDer<'static>,
    other_ca: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
    /// The same server name, but a certificate that expired in 2021.
    expired_chain: Vec<CertificateDer<'static>>,
    expired_key: PrivateKeyDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
}

fn pkcs8(key: &rcgen::KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A self-signed CA certificate named `cn`, and its key.
fn self_signed_ca(cn: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    (params.self_signed(&key).unwrap(), key)
}

impl Pki {
    /// The unrelated CA as a PEM file's text (what a proxy that trusts
    /// the wrong CA is given).
    pub fn other_ca_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.other_ca.as_ref());
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
    }

    /// A CA with a server and a client certificate, and an unrelated CA.
    pub fn generate() -> Pki {
        let (ca, ca_key) = self_signed_ca("grpcscope fixtures CA");

        let leaf = |names: Vec<String>, cn: &str, expired: bool| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(names).unwrap();
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
            if expired {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
            (cert.der().clone(), pkcs8(&key))
        };
        let (server_cert, server_key) = leaf(vec![SERVER_NAME.into()], SERVER_NAME, false);
        let (expired_cert, expired_key) = leaf(vec![SERVER_NAME.into()], SERVER_NAME, true);
        let (client_cert, client_key) = leaf(vec!["checkout.fixtures.internal".into()], "checkout", false);

        let other_ca = self_signed_ca("some other CA").0.der().clone();

        Pki {
            ca: ca.der().clone(),
            other_ca,
            server_chain: vec![server_cert],
            server_key,
            expired_chain: vec![expired_cert],
            expired_key,
            client_chain: vec![client_cert],
            client_key,
        }
    }
}

/// An NSS key log collected in memory (rustls calls it for every secret).
#[derive(Debug, Default)]
pub struct KeyLogBuffer(Mutex<String>);

impl rustls::KeyLog for KeyLogBuffer {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| {
            b.iter().fold(String::new(), |mut s, x| {
                let _ = write!(s, "{x:02x}");
                s
            })
        };
        let mut text = self.0.lock().unwrap();
        let _ = writeln!(text, "{label} {} {}", hex(client_random), hex(secret));
    }
}

impl KeyLogBuffer {
    /// Writes the log to `path`.
    pub fn write(&self, path: &std::path::Path) {
        std::fs::write(path, self.0.lock().unwrap().as_bytes()).unwrap();
    }

    /// Appends the log to `path`, line by line with a pause between, as a
    /// key log writer appends while a capture runs.
    pub fn append_slowly(&self, path: &std::path::Path) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
        for line in self.0.lock().unwrap().lines() {
            writeln!(file, "{line}").unwrap();
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn provider(suites: &[SupportedCipherSuite], groups: &[&'static dyn SupportedKxGroup]) -> Arc<CryptoProvider> {
    let base = ring::default_provider();
    Arc::new(CryptoProvider {
        cipher_suites: if suites.is_empty() { base.cipher_suites.clone() } else { suites.to_vec() },
        kx_groups: if groups.is_empty() { base.kx_groups.clone() } else { groups.to_vec() },
        ..base
    })
}

/// How a scenario's server is set up.
pub struct ServerSetup {
    /// Key exchange groups it accepts (empty: rustls' defaults).
    pub groups: Vec<&'static dyn SupportedKxGroup>,
    /// Whether clients must present a certificate from the CA (mTLS).
    pub require_client_cert: bool,
    /// Serves the certificate that expired in 2021.
    pub expired_cert: bool,
}

/// A TLS server running in the background until stopped.
pub struct TlsServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    /// Serves Inventory over TLS (ALPN h2) on 127.0.0.1:`port`.
    pub async fn start(port: u16, pki: &Pki, setup: ServerSetup) -> TlsServer {
        let provider = provider(&[], &setup.groups);
        let builder =
            ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(rustls::ALL_VERSIONS).unwrap();
        let builder = if setup.require_client_cert {
            let mut roots = RootCertStore::empty();
            roots.add(pki.ca.clone()).unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let (chain, key) = match setup.expired_cert {
            true => (&pki.expired_chain, &pki.expired_key),
            false => (&pki.server_chain, &pki.server_key),
        };
        let mut config = builder.with_single_cert(chain.clone(), key.clone_key()).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let (conns, incoming) = tokio::sync::mpsc::channel(16);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let accept = tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, conns) = (acceptor.clone(), conns.clone());
                    // A failed handshake (the mTLS scenarios) is dropped here;
                    // its alert is already on the wire.
                    tokio::spawn(async move {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let _ = conns.send(Ok::<_, std::io::Error>(ServerIo(tls))).await;
                        }
                    });
                }
            });
            tonic::transport::Server::builder()
                .add_service(InventoryServer)
                .serve_with_incoming_shutdown(tokio_stream::wrappers::ReceiverStream::new(incoming), async move {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            accept.abort();
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        TlsServer { stop, task }
    }

    /// Shuts it down gracefully (GOAWAY) and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// A server-side TLS stream tonic can serve.
struct ServerIo(tokio_rustls::server::TlsStream<TcpStream>);

impl tonic::transport::server::Connected for ServerIo {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for ServerIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// How a scenario's client is set up.
pub struct ClientSetup {
    pub versions: &'static [&'static SupportedProtocolVersion],
    /// The one suite it offers (every connection of the capture shows one).
    pub suite: SupportedCipherSuite,
    /// Key exchange groups in preference order; the first gets a key share.
    pub groups: Vec<&'static dyn SupportedKxGroup>,
    /// Presents the client certificate (mTLS).
    pub client_cert: bool,
    /// Trusts the unrelated CA instead of the server's: verification fails.
    pub trust_other_ca: bool,
}

/// A client handle: the gRPC client, and a switch that makes its
/// connection send a TLS 1.3 KeyUpdate before its next write.
pub struct TlsClient {
    pub grpc: InventoryClient,
    key_update: Arc<AtomicBool>,
}

impl TlsClient {
    /// A lazily connecting client of 127.0.0.1:`port` logging its secrets to `keylog`.
    pub fn new(port: u16, pki: &Pki, setup: ClientSetup, keylog: Arc<KeyLogBuffer>) -> TlsClient {
        let mut roots = RootCertStore::empty();
        roots.add(if setup.trust_other_ca { pki.other_ca.clone() } else { pki.ca.clone() }).unwrap();
        let builder = ClientConfig::builder_with_provider(provider(&[setup.suite], &setup.groups))
            .with_protocol_versions(setup.versions)
            .unwrap()
            .with_root_certificates(roots);
        let mut config = if setup.client_cert {
            builder.with_client_auth_cert(pki.client_chain.clone(), pki.client_key.clone_key()).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        config.key_log = keylog;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let key_update = Arc::new(AtomicBool::new(false));
        let flag = key_update.clone();
        let connect = tower::service_fn(move |_uri: http::Uri| {
            let (connector, flag) = (connector.clone(), flag.clone());
            async move {
                let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
                let tls = connector.connect(ServerName::try_from(SERVER_NAME).unwrap(), tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(ClientIo { tls, key_update: flag }))
            }
        });
        let channel = tonic::transport::Endpoint::try_from(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_with_connector_lazy(connect);
        TlsClient { grpc: InventoryClient::from_channel(channel), key_update }
    }

    /// Makes the connection send a KeyUpdate (update_requested) before its next write.
    pub fn request_key_update(&self) {
        self.key_update.store(true, Ordering::SeqCst);
    }
}

/// A client-side TLS stream that can be told to refresh its keys.
struct ClientIo {
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    key_update: Arc<AtomicBool>,
}

impl AsyncRead for ClientIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.key_update.swap(false, Ordering::SeqCst) {
            self.tls.get_mut().1.refresh_traffic_keys().unwrap();
        }
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

use rustls::crypto::ring::cipher_suite as suite;
use rustls::crypto::ring::kx_group as kx;

fn client(versions: &'static [&'static SupportedProtocolVersion], s: SupportedCipherSuite) -> ClientSetup {
    ClientSetup { versions, suite: s, groups: Vec::new(), client_cert: false, trust_other_ca: false }
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// Three calls, one of them NOT_FOUND, on `c`.
async fn three_calls(c: &mut InventoryClient, tag: &str) {
    for i in 0..2 {
        c.get_part(crate::inventory::get(&format!("{tag}-{i}"))).await.unwrap();
    }
    assert_eq!(
        c.get_part(crate::inventory::get(&format!("missing-{tag}"))).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}

/// TLS 1.3, one connection per suite: AES-128-GCM after a HelloRetryRequest
/// (the client's first key share is a group the server refuses), AES-256-GCM
/// with a KeyUpdate between calls, ChaCha20-Poly1305.
pub async fn tls13(port: u16, keys: &std::path::Path) -> Recording {
    let pki = Pki::generate();
    let log = Arc::new(KeyLogBuffer::default());
    let rec = Recorder::start(&format!("tcp port {port}"));
    let server = TlsServer::start(
        port,
        &pki,
        ServerSetup { groups: vec![kx::X25519, kx::SECP256R1], require_client_cert: false, expired_cert: false },
    )
    .await;

    let mut hrr = client(TLS13, suite::TLS13_AES_128_GCM_SHA256);
    hrr.groups = vec![kx::SECP384R1, kx::SECP256R1];
    let mut a = TlsClient::new(port, &pki, hrr, log.clone());
    three_calls(&mut a.grpc, "aes128").await;

    let mut b = TlsClient::new(port, &pki, client(TLS13, suite::TLS13_AES_256_GCM_SHA384), log.clone());
    three_calls(&mut b.grpc, "aes256").await;
    b.request_key_update();
    three_calls(&mut b.grpc, "rekeyed").await;

    let mut c = TlsClient::new(port, &pki, client(TLS13, suite::TLS13_CHACHA20_POLY1305_SHA256), log.clone());
    three_calls(&mut c.grpc, "chacha").await;

    finish(rec, server, log, keys).await
}

/// TLS 1.2 (extended master secret, as rustls always negotiates), one
/// connection per ECDHE suite HTTP/2 permits with the ECDSA certificate.
pub async fn tls12(port: u16, keys: &std::path::Path) -> Recording {
    let pki = Pki::generate();
    let log = Arc::new(KeyLogBuffer::default());
    let rec = Recorder::start(&format!("tcp port {port}"));
    let server = TlsServer::start(
        port,
        &pki,
        ServerSetup { groups: Vec::new(), require_client_cert: false, expired_cert: false },
    )
    .await;
    for (s, tag) in [
        (suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "aes128"),
        (suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "aes256"),
        (suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "chacha"),
    ] {
        let mut c = TlsClient::new(port, &pki, client(TLS12, s), log.clone());
        three_calls(&mut c.grpc, tag).await;
    }
    finish(rec, server, log, keys).await
}

/// An mTLS server and four clients: TLS 1.3 without a certificate (the
/// server's certificate_required alert), TLS 1.3 trusting the wrong CA
/// (the client's unknown_ca alert), TLS 1.2 trusting the wrong CA (a
/// plaintext alert, readable without keys), and one that gets through;
/// then, on `port + 1`, a server whose certificate expired in 2021 and a
/// TLS 1.2 client that refuses it (certificate_expired, in the clear).
pub async fn tls_failures(port: u16, keys: &std::path::Path) -> Recording {
    let pki = Pki::generate();
    let log = Arc::new(KeyLogBuffer::default());
    let rec = Recorder::start(&format!("tcp port {port} or tcp port {}", port + 1));
    let server = TlsServer::start(
        port,
        &pki,
        ServerSetup { groups: Vec::new(), require_client_cert: true, expired_cert: false },
    )
    .await;
    let get = || crate::inventory::get("mtls-1");

    let mut no_cert = TlsClient::new(port, &pki, client(TLS13, suite::TLS13_AES_128_GCM_SHA256), log.clone());
    assert!(no_cert.grpc.get_part(get()).await.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut wrong = client(TLS13, suite::TLS13_AES_128_GCM_SHA256);
    (wrong.trust_other_ca, wrong.client_cert) = (true, true);
    let mut wrong_ca = TlsClient::new(port, &pki, wrong, log.clone());
    assert!(wrong_ca.grpc.get_part(get()).await.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut wrong12 = client(TLS12, suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    (wrong12.trust_other_ca, wrong12.client_cert) = (true, true);
    let mut wrong_ca12 = TlsClient::new(port, &pki, wrong12, log.clone());
    assert!(wrong_ca12.grpc.get_part(get()).await.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut good = client(TLS13, suite::TLS13_AES_128_GCM_SHA256);
    good.client_cert = true;
    let mut ok = TlsClient::new(port, &pki, good, log.clone());
    ok.grpc.get_part(get()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let stale = TlsServer::start(
        port + 1,
        &pki,
        ServerSetup { groups: Vec::new(), require_client_cert: false, expired_cert: true },
    )
    .await;
    let mut expired =
        TlsClient::new(port + 1, &pki, client(TLS12, suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), log.clone());
    assert!(expired.grpc.get_part(get()).await.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;
    stale.stop().await;

    finish(rec, server, log, keys).await
}

/// The live helper: `n` calls over TLS 1.3 on 127.0.0.1:`port`; the key log
/// reaches `keys` only after the calls, so their records wait for it.
pub async fn live(port: u16, keys: &std::path::Path, n: usize) {
    let pki = Pki::generate();
    let log = Arc::new(KeyLogBuffer::default());
    let server = TlsServer::start(
        port,
        &pki,
        ServerSetup { groups: Vec::new(), require_client_cert: false, expired_cert: false },
    )
    .await;
    let mut c = TlsClient::new(port, &pki, client(TLS13, suite::TLS13_AES_128_GCM_SHA256), log.clone());
    for i in 0..n {
        c.grpc.get_part(crate::inventory::get(&format!("live-tls-{i}"))).await.unwrap();
    }
    log.append_slowly(keys);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // One more call after the keys: decrypted as it happens.
    c.grpc.get_part(crate::inventory::get("after-keys")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
}

async fn finish(rec: Recorder, server: TlsServer, log: Arc<KeyLogBuffer>, keys: &std::path::Path) -> Recording {
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    log.write(keys);
    rec.stop()
}

/// nginx in front of a TLS server it does not trust: it verifies the
/// upstream's certificate against an unrelated CA over TLS 1.2, sends the
/// fatal alert in the clear and answers the client 502. Then a plain OK
/// call through the same nginx would need a working upstream, so the
/// scenario is the failure alone, twice.
pub async fn proxy_tls_upstream() -> Recording {
    let pki = Pki::generate();
    let dir = std::env::temp_dir().join(format!("grpcscope-tls-upstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trusted = dir.join("other-ca.pem");
    std::fs::write(&trusted, pki.other_ca_pem()).unwrap();
    let filter = format!("tcp port {} or tcp port {}", crate::proxy::TLS_FRONT, crate::proxy::TLS_UPSTREAM);
    let rec = Recorder::start(&filter);
    let server = TlsServer::start(
        crate::proxy::TLS_UPSTREAM,
        &pki,
        ServerSetup { groups: Vec::new(), require_client_cert: false, expired_cert: false },
    )
    .await;
    let nginx = crate::proxy::Nginx::tls_upstream(&trusted);
    let mut c = InventoryClient::lazy(crate::proxy::TLS_FRONT);
    for i in 0..2 {
        let refused = c.get_part(crate::inventory::get(&format!("behind-tls-{i}"))).await.unwrap_err();
        println!("proxy_tls_upstream: {:?}: {}", refused.code(), refused.message().lines().next().unwrap_or(""));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(c);
    drop(nginx);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.stop()
}
