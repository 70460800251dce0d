//! The decoder chain of one connection: the layers above TCP, chosen by the
//! detector from the connection's first bytes.
//!
//! ```text
//! TCP byte streams ─▶ detector ─▶ [TLS record layer, decrypting with a key log] ─▶ HTTP/2 ─▶ exchanges ─▶ gRPC calls
//!                             └─▶ opaque (HTTP/1.1, other): counted, not decoded
//! ```
//!
//! Until the detector decides, the connection's bytes wait here (bounded);
//! once it has, they are replayed into the chosen decoders in capture
//! order, so a decoder sees exactly the byte stream it would have seen had
//! it been chosen at the first byte. A capture begun mid-connection has no
//! first bytes to look at: HTTP/2 is looked for by its framing (the only
//! protocol of ours that can be found mid-stream).
//!
//! The chain owns what its connection decodes, and the roles of its two
//! ends: in a capture without the SYN it settles who is client and who is
//! server from the content before it builds the decoders ([`roles`]), so
//! nothing above TCP is ever relabelled; [`Chain::take_swap`] tells the
//! pipeline when the TCP layer's guess was backwards.

pub mod client_hello;
pub mod detect;
mod report;
mod roles;

pub use report::{CallCounts, ConnReport, EndpointNames};

use crate::exchange::{Carrier, ExchangeEvent, Protocol};
use crate::grpc::{CallTracker, GrpcEvent, MessageLimits};
use crate::h2::frame::HEADER_LEN;
use crate::h2::{H2Config, H2Conn, H2Event, H2Summary, Start, ToExchanges};
use crate::tcp::{ConnId, Dir, EndReason};
use crate::time::Timestamp;
use crate::tls::{KeyStore, TlsConn, TlsOutput, TlsSummary};
use bytes::{Bytes, BytesMut};
use detect::ClientStart;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

/// What new chains are made with.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The HTTP/2 layer's settings (shared by every connection).
    pub h2: Arc<H2Config>,
    /// Message limits of the gRPC layer.
    pub limits: MessageLimits,
    /// Message bytes kept per call (`--max-call-bytes`).
    pub max_call_bytes: usize,
    /// TLS secrets (`--tls-keylog`, SSLKEYLOGFILE, pcapng Decryption Secrets Blocks).
    pub tls_keys: Arc<KeyStore>,
    /// Keep each decrypted TLS record's captured bytes beside its
    /// plaintext (the terminal UI shows them; other outputs need only
    /// where the record was).
    pub keep_tls_records: bool,
}

/// Bytes the detector may hold per direction before it decides with what
/// it has: a TLS ClientHello record is at most 16 kB plus its header in
/// practice (2^16 by the format), an HTTP/2 preface 24 bytes.
const MAX_PENDING: usize = 64 * 1024 + 5;

/// A byte-stream event held while the detector decides.
enum Held {
    Data { dir: Dir, ts: Timestamp, offset: u64, data: Bytes, packet: u64 },
    Gap { dir: Dir, ts: Timestamp, offset: u64, len: u64 },
}

/// The detector's state: the first bytes of each direction, and the
/// events to replay once it decides.
#[derive(Default)]
struct Pending {
    first: [BytesMut; 2],
    held: Vec<Held>,
}

/// The decoders of an HTTP/2 connection.
struct Http2Stack {
    h2: H2Conn,
    exchanges: ToExchanges,
    calls: CallTracker,
}

/// A TLS connection: its record layer, and HTTP/2 on the plaintext once
/// there is plaintext.
struct TlsStack {
    tls: TlsConn,
    http2: Option<Box<Http2Stack>>,
    plain: Vec<TlsOutput>,
    /// Per direction: the records whose plaintext HTTP/2 has not finished
    /// with (a frame not complete yet), to tell each frame what carried it.
    carriers: [VecDeque<Arc<Carrier>>; 2],
}

/// Records remembered per direction for frames still being received. A
/// 16 kB frame spans two or three records; a frame that needs more (up to
/// 16 MiB in HTTP/2, in records of one byte each) keeps its last ones.
const MAX_CARRIERS: usize = 4_096;

impl TlsStack {
    /// Plaintext from the record layer to HTTP/2; each frame it completes
    /// is told which records carried it.
    fn feed_http2(&mut self, plain: &mut Vec<TlsOutput>, out: &mut Vec<H2Event>) {
        let Some(h) = self.http2.as_mut() else {
            plain.clear();
            return;
        };
        for p in plain.drain(..) {
            let from = out.len();
            match p {
                TlsOutput::Plain { dir, ts, offset, data, packet, carrier } => {
                    let Some(q) = self.carriers.get_mut(dir.index()) else { continue };
                    if q.len() >= MAX_CARRIERS {
                        q.pop_front();
                    }
                    q.push_back(carrier);
                    h.h2.data(dir, ts, offset, data, packet, out);
                    attach_carriers(q, out.get_mut(from..).unwrap_or_default());
                }
                TlsOutput::Gap { dir, ts, offset, len } => {
                    if let Some(q) = self.carriers.get_mut(dir.index()) {
                        q.clear();
                    }
                    h.h2.gap(dir, ts, offset, len, out);
                }
            }
        }
    }

    /// The capture ended: HTTP/2 releases what it holds.
    fn finish(&mut self, out: &mut Vec<H2Event>) {
        let mut plain = std::mem::take(&mut self.plain);
        self.tls.finish(&mut plain);
        self.feed_http2(&mut plain, out);
        if let Some(h) = self.http2.as_mut() {
            h.h2.finish();
        }
    }
}

/// Tells each frame in `events` the records (in `q`) its bytes came from,
/// and forgets the records wholly before the end of the last one.
fn attach_carriers(q: &mut VecDeque<Arc<Carrier>>, events: &mut [H2Event]) {
    for ev in events {
        let H2Event::Frame(f) = ev else { continue };
        let range = f.offset..f.offset + (HEADER_LEN as u64) + u64::from(f.header.length);
        f.carriers = q.iter().filter(|c| c.overlap(&range).is_some()).cloned().collect();
        while q.front().is_some_and(|c| c.plain.end <= range.end) {
            q.pop_front();
        }
    }
}

/// Where the chain is.
enum Stage {
    /// Not a byte yet: nothing is built (a SYN flood costs no decoders).
    Idle,
    /// The detector is looking at the first bytes.
    Detecting(Box<Pending>),
    /// No SYN, and ports were all that told client from server: the
    /// content is consulted first (HTTP/2 is looked for by its framing).
    Settling(Box<roles::Settling>),
    /// HTTP/2, decoding.
    Http2(Box<Http2Stack>),
    /// TLS: records followed, decrypted when keys are known.
    Tls(Box<TlsStack>),
    /// Not decoded further (TLS without keys, HTTP/1.x, other).
    Opaque,
    /// The connection closed: the decoders are gone (a closed connection
    /// lingers in the TCP table for a minute of capture time to absorb late
    /// ACKs; memory stays proportional to the connections talking), their
    /// HTTP/2 summary kept.
    Done(Option<Box<H2Summary>>),
}

/// The layers above TCP for one connection.
pub struct Chain {
    id: ConnId,
    client: SocketAddr,
    server: SocketAddr,
    /// The SYN was captured: the connection's first bytes are its start.
    syn_seen: bool,
    /// Client and server were told apart by port numbers alone.
    roles_guessed: bool,
    /// The content showed the TCP layer's roles backwards; the pipeline has
    /// not been told yet.
    swap_untold: bool,
    stage: Stage,
    /// What the detector decided (HTTP/2 connections report what their
    /// decoder found instead).
    protocol: Protocol,
    tls_server_name: Option<String>,
    /// What the TLS layer knew when the connection closed.
    tls_done: Option<Box<TlsSummary>>,
}

/// What a chain knows about its connection at the end.
#[derive(Debug, Clone)]
pub struct StackReport {
    /// What the connection carried.
    pub protocol: Protocol,
    /// The TLS server name (SNI), when the connection is TLS and sent one.
    pub tls_server_name: Option<String>,
    /// The HTTP/2 facts (empty when it was not HTTP/2).
    pub h2: H2Summary,
    /// The TLS facts, when the connection was TLS.
    pub tls: Option<TlsSummary>,
}

impl Chain {
    /// The chain of connection `id`, as its TCP facts say to start it.
    pub fn new(id: ConnId, client: SocketAddr, server: SocketAddr, syn_seen: bool, roles_guessed: bool) -> Self {
        Chain {
            id,
            client,
            server,
            syn_seen,
            roles_guessed,
            swap_untold: false,
            stage: Stage::Idle,
            protocol: Protocol::Unknown,
            tls_server_name: None,
            tls_done: None,
        }
    }

    /// In-order bytes of `dir` at stream `offset`.
    #[allow(clippy::too_many_arguments)]
    pub fn data(
        &mut self,
        cfg: &ChainConfig,
        dir: Dir,
        ts: Timestamp,
        offset: u64,
        data: &Bytes,
        packet: u64,
        out: &mut Vec<H2Event>,
    ) {
        self.begin(cfg);
        match &mut self.stage {
            Stage::Detecting(p) => {
                if let Some(first) = p.first.get_mut(dir.index()) {
                    if first.len() < MAX_PENDING {
                        first.extend_from_slice(data.get(..(MAX_PENDING - first.len()).min(data.len())).unwrap_or(&[]));
                    }
                }
                p.held.push(Held::Data { dir, ts, offset, data: data.clone(), packet });
                self.detect(cfg, out);
            }
            Stage::Settling(r) => {
                let verdict = r.event(Held::Data { dir, ts, offset, data: data.clone(), packet });
                self.settled(cfg, verdict, out);
            }
            Stage::Http2(s) => s.h2.data(dir, ts, offset, data.clone(), packet, out),
            Stage::Tls(_) => self.tls_data(cfg, dir, ts, offset, data, packet, out),
            Stage::Idle | Stage::Opaque | Stage::Done(_) => {}
        }
    }

    /// Once the roles are settled, the decoders are built with them and
    /// the held events replayed, their directions corrected.
    fn settled(&mut self, cfg: &ChainConfig, verdict: roles::Verdict, out: &mut Vec<H2Event>) {
        let roles::Verdict::Settled { reversed, held } = verdict else { return };
        if reversed {
            std::mem::swap(&mut self.client, &mut self.server);
            self.swap_untold = true;
        }
        self.stage = self.http2(cfg, Start::Search);
        let held = held.into_iter().map(|h| if reversed { h.reversed() } else { h }).collect();
        self.replay(held, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn tls_data(
        &mut self,
        cfg: &ChainConfig,
        dir: Dir,
        ts: Timestamp,
        offset: u64,
        data: &[u8],
        packet: u64,
        out: &mut Vec<H2Event>,
    ) {
        let Stage::Tls(s) = &mut self.stage else { return };
        let mut plain = std::mem::take(&mut s.plain);
        s.tls.data(dir, ts, offset, data, packet, &mut plain);
        self.tls_plaintext(cfg, &mut plain, out);
    }

    /// Plaintext from the TLS layer goes to HTTP/2 (made at the first
    /// plaintext: a decrypted stream starts at its beginning).
    fn tls_plaintext(&mut self, cfg: &ChainConfig, plain: &mut Vec<TlsOutput>, out: &mut Vec<H2Event>) {
        if plain.is_empty() {
            if let Stage::Tls(s) = &mut self.stage {
                s.plain = std::mem::take(plain);
            }
            return;
        }
        // HTTP/2 is built only for a connection that negotiated it (or said
        // nothing): the plaintext of `http/1.1` is not HTTP/2 frames.
        let wants_h2 = matches!(&self.stage, Stage::Tls(s) if s.tls.speaks_h2());
        if !wants_h2 {
            plain.clear();
            return;
        }
        let h2 = (!self.stage_tls_has_h2()).then(|| self.http2_stack(cfg, Start::Preface));
        let Stage::Tls(s) = &mut self.stage else { return };
        if let Some(stack) = h2 {
            s.http2 = Some(stack);
        }
        s.feed_http2(plain, out);
        s.plain = std::mem::take(plain);
    }

    fn stage_tls_has_h2(&self) -> bool {
        matches!(&self.stage, Stage::Tls(s) if s.http2.is_some())
    }

    /// `len` bytes of `dir` were never captured, starting at `offset`.
    pub fn gap(&mut self, cfg: &ChainConfig, dir: Dir, ts: Timestamp, offset: u64, len: u64, out: &mut Vec<H2Event>) {
        self.begin(cfg);
        match &mut self.stage {
            Stage::Detecting(p) if dir == Dir::ToServer => {
                // The client's first bytes are gone: its start cannot be
                // checked, so HTTP/2 is looked for by its framing.
                let held = std::mem::take(&mut p.held);
                self.stage = self.http2(cfg, Start::Search);
                self.replay(held, out);
                if let Stage::Http2(s) = &mut self.stage {
                    s.h2.gap(dir, ts, offset, len, out);
                }
            }
            Stage::Detecting(p) => {
                if let Some(first) = p.first.get_mut(dir.index()) {
                    first.clear();
                }
                p.held.retain(|h| !matches!(h, Held::Data { dir: d, .. } if *d == dir));
                p.held.push(Held::Gap { dir, ts, offset, len });
            }
            Stage::Settling(r) => {
                let verdict = r.event(Held::Gap { dir, ts, offset, len });
                self.settled(cfg, verdict, out);
            }
            Stage::Http2(s) => s.h2.gap(dir, ts, offset, len, out),
            Stage::Tls(s) => {
                let mut plain = std::mem::take(&mut s.plain);
                s.tls.gap(dir, ts, len, &mut plain);
                self.tls_plaintext(cfg, &mut plain, out);
            }
            Stage::Idle | Stage::Opaque | Stage::Done(_) => {}
        }
    }

    /// The first byte-stream event: decoders are made now, not at the SYN,
    /// so that a connection that never carries data costs only its TCP state.
    fn begin(&mut self, cfg: &ChainConfig) {
        if let Stage::Idle = self.stage {
            let port_forced = cfg.h2.h2_ports.contains(&self.server.port());
            self.stage = if self.syn_seen {
                Stage::Detecting(Box::default())
            } else if self.roles_guessed && !port_forced {
                // No start, and roles from ports alone: the content tells first.
                Stage::Settling(Box::new(roles::Settling::new(self.id, &cfg.h2, self.server.port())))
            } else {
                // No start to look at: HTTP/2 is found by its framing.
                self.http2(cfg, Start::Search)
            };
        }
    }

    /// Decides the protocol from the first bytes, when they suffice.
    fn detect(&mut self, cfg: &ChainConfig, out: &mut Vec<H2Event>) {
        let Stage::Detecting(p) = &mut self.stage else { return };
        let [client, server] = &p.first;
        if client.is_empty() && detect::server_settings_first(server) {
            // Servers may send their SETTINGS before the client's preface
            // arrives (gRPC C-core does): HTTP/2 it is; the preface is still checked.
            return self.decided_http2(cfg, Start::Preface, out);
        }
        let port_forced = cfg.h2.h2_ports.contains(&self.server.port());
        match detect::classify_client_start(client) {
            ClientStart::NeedMore if client.len() >= MAX_PENDING || server.len() >= MAX_PENDING => {
                self.opaque(Protocol::Other)
            }
            ClientStart::NeedMore => {}
            ClientStart::Preface => self.decided_http2(cfg, Start::Preface, out),
            ClientStart::Tls => self.decided_tls(cfg, out),
            ClientStart::Http1 => self.opaque(Protocol::Http1),
            // `--h2-port` named this port: look for frames whatever came first.
            ClientStart::Other if port_forced => self.decided_http2(cfg, Start::Search, out),
            ClientStart::Other => self.opaque(Protocol::Other),
        }
    }

    /// HTTP/2 it is: the held bytes go to a new HTTP/2 decoder.
    fn decided_http2(&mut self, cfg: &ChainConfig, start: Start, out: &mut Vec<H2Event>) {
        let Stage::Detecting(p) = &mut self.stage else { return };
        let held = std::mem::take(&mut p.held);
        self.stage = self.http2(cfg, start);
        self.replay(held, out);
    }

    /// TLS it is: the held bytes go to a new record layer.
    fn decided_tls(&mut self, cfg: &ChainConfig, out: &mut Vec<H2Event>) {
        let Stage::Detecting(p) = &mut self.stage else { return };
        let held = std::mem::take(&mut p.held);
        self.protocol = Protocol::Tls;
        let tls = TlsConn::new(cfg.tls_keys.clone()).keeping_captured_bytes(cfg.keep_tls_records);
        self.stage =
            Stage::Tls(Box::new(TlsStack { tls, http2: None, plain: Vec::new(), carriers: Default::default() }));
        for h in held {
            match h {
                Held::Data { dir, ts, offset, data, packet } => self.tls_data(cfg, dir, ts, offset, &data, packet, out),
                Held::Gap { dir, ts, offset, len } => self.gap(cfg, dir, ts, offset, len, out),
            }
        }
    }

    fn replay(&mut self, held: Vec<Held>, out: &mut Vec<H2Event>) {
        let Stage::Http2(s) = &mut self.stage else { return };
        for h in held {
            match h {
                Held::Data { dir, ts, offset, data, packet } => s.h2.data(dir, ts, offset, data, packet, out),
                Held::Gap { dir, ts, offset, len } => s.h2.gap(dir, ts, offset, len, out),
            }
        }
    }

    fn opaque(&mut self, protocol: Protocol) {
        self.protocol = protocol;
        self.stage = Stage::Opaque;
    }

    fn http2(&self, cfg: &ChainConfig, start: Start) -> Stage {
        Stage::Http2(self.http2_stack(cfg, start))
    }

    fn http2_stack(&self, cfg: &ChainConfig, start: Start) -> Box<Http2Stack> {
        let h2 = H2Conn::new(self.id, cfg.h2.clone(), self.server.port(), self.syn_seen, start);
        let calls = CallTracker::new(self.id, self.client, self.server, cfg.limits, cfg.max_call_bytes);
        Box::new(Http2Stack { h2, exchanges: ToExchanges::default(), calls })
    }

    /// The HTTP/2 decoders, over TCP or over TLS.
    fn http2_mut(&mut self) -> Option<&mut Http2Stack> {
        match &mut self.stage {
            Stage::Http2(s) => Some(s),
            Stage::Tls(s) => s.http2.as_deref_mut(),
            _ => None,
        }
    }

    /// Hands an HTTP/2 event (after redaction, and after the sinks saw it)
    /// to the exchange layer and the gRPC calls above it.
    pub fn h2_event(&mut self, ev: &H2Event, exchanges: &mut Vec<ExchangeEvent>, out: &mut Vec<GrpcEvent>) {
        let Some(s) = self.http2_mut() else { return };
        exchanges.clear();
        s.exchanges.event(ev, exchanges);
        for x in exchanges.iter() {
            s.calls.exchange(x, out);
        }
    }

    /// Whether the content just showed the TCP layer's client and server
    /// reversed (asked once after each byte-stream event): the chain has
    /// settled its own roles; the TCP layer, which guessed, is the caller's.
    pub fn take_swap(&mut self) -> bool {
        std::mem::take(&mut self.swap_untold)
    }

    /// The TLS steps made since the last call (empty unless the chain has a
    /// TLS record layer).
    pub fn take_tls_steps(&mut self) -> Vec<crate::tls::TlsStep> {
        match &mut self.stage {
            Stage::Tls(s) => s.tls.take_steps(),
            _ => Vec::new(),
        }
    }

    /// The connection's (client, server), as the chain knows them now.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        (self.client, self.server)
    }

    /// The capture ended (or the connection's record is done): what the
    /// decoders still hold is released.
    pub fn finish(&mut self, cfg: &ChainConfig, out: &mut Vec<H2Event>) {
        if let Stage::Settling(r) = &mut self.stage {
            // The capture ended before the content told: the guess stands.
            let held = r.give_up();
            self.settled(cfg, roles::Verdict::Settled { reversed: false, held }, out);
        }
        match &mut self.stage {
            Stage::Http2(s) => s.h2.finish(),
            Stage::Tls(s) => s.finish(out),
            Stage::Detecting(p) => {
                // Bytes came but said nothing recognisable before the end.
                if p.first.iter().any(|b| !b.is_empty()) {
                    self.opaque(Protocol::Other);
                }
            }
            Stage::Idle | Stage::Opaque | Stage::Done(_) | Stage::Settling(_) => {}
        }
    }

    /// The TCP connection ended: calls still open end with it (or stay
    /// incomplete when only the capture ended), and the decoders are
    /// dropped, their summary kept. Call [`Chain::finish`] first, and
    /// deliver the HTTP/2 events it released, so the calls have them.
    pub fn closed(&mut self, reason: EndReason, ts: Timestamp, out: &mut Vec<GrpcEvent>) {
        let summary = match std::mem::replace(&mut self.stage, Stage::Done(None)) {
            Stage::Http2(s) => {
                let mut s = *s;
                s.calls.connection_closed(reason, ts, out);
                self.protocol = s.h2.protocol();
                Some(Box::new(s.h2.summary()))
            }
            Stage::Tls(s) => {
                let s = *s;
                self.tls_done = Some(Box::new(s.tls.summary().clone()));
                s.http2.map(|h| {
                    let mut h = *h;
                    h.calls.connection_closed(reason, ts, out);
                    Box::new(h.h2.summary())
                })
            }
            Stage::Done(summary) => summary,
            Stage::Settling(r) => Some(Box::new(r.summary())),
            Stage::Idle | Stage::Detecting(_) | Stage::Opaque => None,
        };
        self.stage = Stage::Done(summary);
    }

    /// Bytes of `dir` at `offset` were retransmitted with other content
    /// (in packet `packet`): the calls open now say so.
    pub fn retransmit_conflict(&mut self, dir: Dir, offset: u64, packet: u64) {
        if let Some(s) = self.http2_mut() {
            s.calls.retransmit_conflict(dir, offset, packet);
        }
    }

    /// What the chain knows about its connection.
    pub fn report(&self) -> StackReport {
        let (protocol, h2) = match &self.stage {
            Stage::Http2(s) => (s.h2.protocol(), s.h2.summary()),
            Stage::Tls(s) => (Protocol::Tls, s.http2.as_ref().map_or_else(H2Summary::new, |h| h.h2.summary())),
            Stage::Done(Some(h2)) => (self.protocol, (**h2).clone()),
            Stage::Done(None) => (self.protocol, H2Summary::new()),
            Stage::Settling(r) => {
                let h2 = r.summary();
                (h2.protocol, h2)
            }
            Stage::Idle | Stage::Detecting(_) | Stage::Opaque => (self.protocol, H2Summary::new()),
        };
        let tls = match &self.stage {
            Stage::Tls(s) => Some(s.tls.summary().clone()),
            _ => self.tls_done.as_deref().cloned(),
        };
        let tls_server_name = tls.as_ref().and_then(|t| t.server_name.clone()).or_else(|| self.tls_server_name.clone());
        StackReport { protocol, tls_server_name, h2, tls }
    }
}

#[cfg(test)]
mod tests;
