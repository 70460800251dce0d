//! The pipeline driver: packets in, layer events out to a sink.

use crate::capture::Packet;
use crate::grpc::{CallTracker, GrpcEvent, MessageLimits, Origin};
use crate::h2::{H2Config, H2Conn, H2Event, H2Summary};
use crate::net::{self, Decoded, Skip};
use crate::tcp::{ConnId, ConnSummary, FlowTable, StreamEvent, TcpConfig};
use ahash::AHashMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// Receives what the pipeline finds. Every method has a default that
/// ignores the event, so a sink implements only what it prints.
pub trait Sink {
    /// A TCP-level event (connection opened, bytes, gap, FIN, close).
    fn stream_event(&mut self, _ev: &StreamEvent) {}
    /// An HTTP/2-level event (protocol detected, preface, frame, lost bytes).
    fn h2_event(&mut self, _ev: &H2Event) {}
    /// A gRPC-level event (a call started or finished, a schema learned).
    fn grpc_event(&mut self, _ev: GrpcEvent) {}
    /// A connection left the flow table with its final record.
    fn connection(&mut self, _conn: ConnReport) {}
}

/// Everything known about a connection when it is done.
#[derive(Debug, Clone)]
pub struct ConnReport {
    /// TCP facts.
    pub tcp: ConnSummary,
    /// HTTP/2 facts, when the connection was decoded as HTTP/2 (or tried).
    pub h2: Option<H2Summary>,
    /// Its gRPC calls, counted by outcome.
    pub calls: CallCounts,
}

/// Calls of a connection by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CallCounts {
    /// All calls.
    pub total: u64,
    /// Ended OK.
    pub ok: u64,
    /// Failed by the application.
    pub application: u64,
    /// Failed by the transport.
    pub transport: u64,
    /// Ended with a status that could not be read.
    pub unknown: u64,
    /// Still open when the capture (or the connection's record) ended.
    pub incomplete: u64,
}

impl CallCounts {
    /// Counts one finished call.
    pub fn add(&mut self, call: &crate::grpc::Call) {
        self.total += 1;
        match call.verdict().0 {
            Origin::Application => self.application += 1,
            Origin::Transport => self.transport += 1,
            Origin::Unknown => self.unknown += 1,
            Origin::None if call.end.is_none() => self.incomplete += 1,
            Origin::None => self.ok += 1,
        }
    }
}

/// Settings for every layer.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// TCP limits and role hints.
    pub tcp: TcpConfig,
    /// HTTP/2 limits and port hints.
    pub h2: H2Config,
    /// Message limits.
    pub messages: MessageLimits,
    /// Message bytes kept per call (`--max-call-bytes`).
    pub max_call_bytes: usize,
    /// `--redact`: header values hashed before any consumer sees them.
    pub redact: Option<Arc<super::redact::Redactor>>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl PipelineConfig {
    /// Defaults for every layer.
    pub fn new() -> Self {
        PipelineConfig {
            tcp: TcpConfig::default(),
            h2: H2Config::default(),
            messages: MessageLimits::default(),
            max_call_bytes: 256 << 20,
            redact: None,
        }
    }
}

/// What the capture held, at packet level.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureCounters {
    /// Packets read.
    pub packets: u64,
    /// Bytes captured (sum of captured lengths).
    pub captured_bytes: u64,
    /// Packets carrying a TCP segment.
    pub tcp_packets: u64,
    /// Packets whose captured length was shorter than their wire length.
    pub snaplen_cut: u64,
    /// Packets ignored, by reason.
    pub ignored: BTreeMap<String, u64>,
}

/// The layers above TCP for one connection.
struct Upper {
    client: SocketAddr,
    server: SocketAddr,
    /// Whether the SYN was captured, and whether client and server were
    /// told apart by port numbers alone: what the decoders start from.
    syn_seen: bool,
    roles_guessed: bool,
    /// The decoders, made when the first byte arrives and dropped at close.
    /// Made late so that a connection that never carries data (a SYN flood,
    /// a port scan, a refused connect) costs only its TCP state. Dropped at
    /// close because a closed connection lingers in the TCP table for a
    /// minute of capture time to absorb late ACKs; both keep memory
    /// proportional to the connections actually talking.
    live: Option<Box<Live>>,
    closed: bool,
    /// The HTTP/2 summary, taken when the decoders were dropped.
    h2_summary: Option<Box<H2Summary>>,
    counts: CallCounts,
}

/// The decoders of an open connection.
struct Live {
    h2: H2Conn,
    calls: CallTracker,
}

/// What new decoders are made with.
struct DecoderConfig {
    h2: Arc<H2Config>,
    limits: MessageLimits,
    max_call_bytes: usize,
}

impl DecoderConfig {
    /// New decoders for connection `conn`, as its TCP facts say to start them.
    fn make(&self, conn: ConnId, u: &Upper) -> Live {
        let h2 = H2Conn::new(conn, self.h2.clone(), u.server.port(), u.syn_seen, u.roles_guessed);
        let calls = CallTracker::new(conn, u.client, u.server, self.limits, self.max_call_bytes);
        Live { h2, calls }
    }

    /// The HTTP/2 summary of a connection that never carried a byte (only
    /// the HTTP/2 decoder is made for it, not the call tracker).
    fn empty_summary(&self, conn: ConnId, u: &Upper) -> H2Summary {
        H2Conn::new(conn, self.h2.clone(), u.server.port(), u.syn_seen, u.roles_guessed).summary()
    }

    /// The decoders of an open connection, made on its first byte.
    fn live<'a>(&self, conns: &'a mut AHashMap<ConnId, Upper>, conn: ConnId) -> Option<&'a mut Live> {
        let u = conns.get_mut(&conn)?;
        if u.live.is_none() && !u.closed {
            u.live = Some(Box::new(self.make(conn, u)));
        }
        u.live.as_deref_mut()
    }
}

/// Packets in, events out.
pub struct Pipeline<S: Sink> {
    tcp: FlowTable,
    decoders: DecoderConfig,
    redact: Option<Arc<super::redact::Redactor>>,
    conns: AHashMap<ConnId, Upper>,
    events: Vec<StreamEvent>,
    h2_events: Vec<H2Event>,
    grpc_events: Vec<GrpcEvent>,
    /// Packet-level counters.
    pub counters: CaptureCounters,
    /// The sink receiving everything.
    pub sink: S,
}

impl<S: Sink> Pipeline<S> {
    /// A pipeline delivering to `sink`.
    pub fn new(cfg: PipelineConfig, sink: S) -> Self {
        Pipeline {
            tcp: FlowTable::new(cfg.tcp),
            decoders: DecoderConfig { h2: Arc::new(cfg.h2), limits: cfg.messages, max_call_bytes: cfg.max_call_bytes },
            redact: cfg.redact,
            conns: AHashMap::new(),
            events: Vec::with_capacity(16),
            h2_events: Vec::with_capacity(16),
            grpc_events: Vec::with_capacity(4),
            counters: CaptureCounters::default(),
            sink,
        }
    }

    /// Processes one packet.
    pub fn packet(&mut self, pkt: &Packet) {
        self.counters.packets += 1;
        self.counters.captured_bytes += pkt.data.len() as u64;
        if (pkt.data.len() as u64) < u64::from(pkt.orig_len) {
            self.counters.snaplen_cut += 1;
        }
        match net::decode(pkt.link, &pkt.data) {
            Decoded::Tcp(seg) => {
                self.counters.tcp_packets += 1;
                let payload = pkt.data.slice(seg.payload.clone());
                self.tcp.segment(pkt.ts, pkt.number, &seg, payload, &mut self.events);
                self.dispatch();
            }
            Decoded::Skipped(why) => self.ignore(why),
        }
    }

    fn ignore(&mut self, why: Skip) {
        *self.counters.ignored.entry(why.label().to_string()).or_default() += 1;
    }

    /// The capture ended: flushes every connection.
    pub fn finish(&mut self) {
        self.tcp.finish(&mut self.events);
        self.dispatch();
    }

    fn dispatch(&mut self) {
        let mut events = std::mem::take(&mut self.events);
        let mut i = 0;
        while let Some(ev) = events.get(i) {
            self.sink.stream_event(ev);
            let conn = ev.conn();
            if let Some(upper) = self.upper_event(ev) {
                self.flush_h2();
                if upper {
                    self.swap_roles(conn, events.get_mut(i + 1..).unwrap_or(&mut []));
                }
            }
            i += 1;
        }
        events.clear();
        self.events = events;
    }

    /// Feeds a TCP event to the connection's HTTP/2 decoder. Returns
    /// `Some(swapped)` when the decoder ran.
    fn upper_event(&mut self, ev: &StreamEvent) -> Option<bool> {
        let out = &mut self.h2_events;
        match ev {
            StreamEvent::Open { conn, client, server, syn_seen, roles_guessed, .. } => {
                let upper = Upper {
                    client: *client,
                    server: *server,
                    syn_seen: *syn_seen,
                    roles_guessed: *roles_guessed,
                    live: None,
                    closed: false,
                    h2_summary: None,
                    counts: CallCounts::default(),
                };
                self.conns.insert(*conn, upper);
                None
            }
            StreamEvent::Data { conn, dir, ts, offset, data, packet } => {
                let live = self.decoders.live(&mut self.conns, *conn)?;
                live.h2.data(*dir, *ts, *offset, data.clone(), *packet, out);
                Some(live.h2.take_swap())
            }
            StreamEvent::Gap { conn, dir, ts, offset, len } => {
                let live = self.decoders.live(&mut self.conns, *conn)?;
                live.h2.gap(*dir, *ts, *offset, *len, out);
                Some(live.h2.take_swap())
            }
            StreamEvent::Closed { conn, ts, reason } => {
                let u = self.conns.get_mut(conn)?;
                u.closed = true;
                let Some(live) = u.live.as_mut() else {
                    // No byte ever came: the summary of decoders that saw nothing.
                    u.h2_summary = Some(Box::new(self.decoders.empty_summary(*conn, u)));
                    return Some(false);
                };
                live.h2.finish(*ts, out);
                self.flush_h2();
                if let Some(u) = self.conns.get_mut(conn) {
                    if let Some(live) = u.live.take() {
                        let mut live = *live;
                        live.calls.connection_closed(*reason, *ts, &mut self.grpc_events);
                        u.h2_summary = Some(Box::new(live.h2.summary()));
                    }
                }
                self.flush_grpc();
                Some(false)
            }
            StreamEvent::Finished(summary) => {
                let decoders = &self.decoders;
                let upper = self.conns.remove(&summary.id).map(|mut u| {
                    if let Some(live) = u.live.as_mut() {
                        live.h2.finish(summary.last_ts, out);
                        u.h2_summary = Some(Box::new(live.h2.summary()));
                    }
                    let h2 = match u.h2_summary.take() {
                        Some(h2) => *h2,
                        None => decoders.empty_summary(summary.id, &u),
                    };
                    (Some(h2), u.counts)
                });
                self.flush_h2();
                let (h2, calls) = upper.unwrap_or_default();
                self.sink.connection(ConnReport { tcp: (**summary).clone(), h2, calls });
                None
            }
            StreamEvent::Control { .. } | StreamEvent::Fin { .. } => None,
        }
    }

    fn flush_h2(&mut self) {
        for mut ev in self.h2_events.drain(..) {
            if let Some(r) = &self.redact {
                r.event(&mut ev);
            }
            self.sink.h2_event(&ev);
            if let Some(live) = self.conns.get_mut(&h2_conn(&ev)).and_then(|u| u.live.as_mut()) {
                live.calls.h2_event(&ev, &mut self.grpc_events);
            }
        }
        self.flush_grpc();
    }

    fn flush_grpc(&mut self) {
        for ev in self.grpc_events.drain(..) {
            if let GrpcEvent::Finished(call) = &ev {
                if let Some(u) = self.conns.get_mut(&call.conn) {
                    u.counts.add(call);
                }
            }
            self.sink.grpc_event(ev);
        }
    }

    /// HTTP/2 content showed the client and server of `conn` reversed.
    fn swap_roles(&mut self, conn: ConnId, rest: &mut [StreamEvent]) {
        let Some(u) = self.conns.get_mut(&conn) else {
            return;
        };
        self.tcp.swap_roles(u.client, u.server);
        std::mem::swap(&mut u.client, &mut u.server);
        if let Some(live) = u.live.as_mut() {
            live.calls.swap_roles();
        }
        for ev in rest {
            match ev {
                StreamEvent::Data { conn: c, dir, .. }
                | StreamEvent::Gap { conn: c, dir, .. }
                | StreamEvent::Fin { conn: c, dir, .. }
                | StreamEvent::Control { conn: c, dir, .. }
                    if *c == conn =>
                {
                    *dir = dir.other();
                }
                _ => {}
            }
        }
    }

    /// Connections seen so far.
    pub fn connections_seen(&self) -> u64 {
        self.tcp.connections_seen()
    }
}

fn h2_conn(ev: &H2Event) -> ConnId {
    match ev {
        H2Event::Detected { conn, .. } | H2Event::Preface { conn, .. } | H2Event::Lost { conn, .. } => *conn,
        H2Event::Frame(f) => f.conn,
    }
}
