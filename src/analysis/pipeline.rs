//! The pipeline driver: packets in, layer events out to a sink.

use crate::capture::Packet;
pub use crate::chain::{CallCounts, ConnReport};
use crate::chain::{Chain, ChainConfig};
use crate::exchange::{ExchangeEvent, Protocol};
use crate::grpc::{GrpcEvent, MessageLimits};
use crate::h2::{H2Config, H2Event};
use crate::net::{self, Decoded, Skip};
use crate::tcp::{ConnId, FlowTable, StreamEvent, TcpConfig};
use crate::time::Timestamp;
use ahash::AHashMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// Why a sink asked the pipeline to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The output went away (a closed pipe: `| head -1`): stop at once, quietly.
    OutputClosed,
    /// Writing failed otherwise; the sink keeps the error to report it.
    OutputFailed,
    /// The sink has everything it wanted.
    Done,
}

impl Stop {
    /// The stop a write error calls for.
    pub fn from_io(e: &std::io::Error) -> Stop {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Stop::OutputClosed
        } else {
            Stop::OutputFailed
        }
    }
}

/// What a sink answers to each event: go on, or stop the run.
pub type Flow = std::ops::ControlFlow<Stop>;

/// Go on: the answer of a sink that has nothing to stop for.
pub const CONTINUE: Flow = Flow::Continue(());

/// The flow of a sink that keeps its first write error.
pub fn flow_of(error: Option<&std::io::Error>) -> Flow {
    match error {
        Some(e) => Flow::Break(Stop::from_io(e)),
        None => CONTINUE,
    }
}

/// Receives what the pipeline finds. Every method has a default that
/// ignores the event, so a sink implements only what it prints. Each
/// returns a [`Flow`]: a sink whose output closed or failed stops the run,
/// and the reader with it.
pub trait Sink {
    /// A TCP-level event (connection opened, bytes, gap, FIN, close).
    fn stream_event(&mut self, _ev: &StreamEvent) -> Flow {
        CONTINUE
    }
    /// An HTTP/2-level event (protocol detected, preface, frame, lost bytes).
    fn h2_event(&mut self, _ev: &H2Event) -> Flow {
        CONTINUE
    }
    /// A gRPC-level event (a call started or finished, a schema learned).
    fn grpc_event(&mut self, _ev: GrpcEvent) -> Flow {
        CONTINUE
    }
    /// A TLS step of connection `conn`: a handshake message, an alert, keys
    /// taking effect (before the HTTP/2 events of the same bytes).
    fn tls_step(&mut self, _conn: ConnId, _step: &crate::tls::TlsStep) -> Flow {
        CONTINUE
    }
    /// A connection left the flow table with its final record.
    fn connection(&mut self, _conn: ConnReport) -> Flow {
        CONTINUE
    }
    /// The capture's first packet was captured at `ts` (once, before any
    /// event): what relative times (`-t r`) count from.
    fn capture_began(&mut self, _ts: Timestamp) -> Flow {
        CONTINUE
    }
}

/// The `ignored` label of IPv4 fragments whose datagram never completed
/// (a fragment lost, the 30 s lifetime, a limit, or overlaps that disagree).
pub const FRAGMENTS_LOST: &str = "IPv4 fragments of datagrams never completed";

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
    /// TLS secrets: key log files, SSLKEYLOGFILE and the capture's own
    /// Decryption Secrets Blocks all add to this one store.
    pub tls_keys: Arc<crate::tls::KeyStore>,
    /// The key log files `tls_keys` was loaded from, with the bytes read:
    /// a live capture follows them as their writers append.
    pub tls_key_files: Vec<(std::path::PathBuf, u64)>,
    /// Keep each decrypted TLS record's captured bytes in the frames it
    /// carried (the terminal UI shows them beside the plaintext).
    pub keep_tls_records: bool,
    /// Names for addresses (`--names`, `--k8s`); the capture's DNS answers
    /// add to them.
    pub names: crate::names::Names,
    /// When this pipeline decodes one share of a capture's connections.
    pub shard: Option<Shard>,
    /// When this pipeline decodes only the connections between two ends
    /// (the terminal UI re-reading one connection for its details).
    pub focus: Option<Focus>,
}

/// The two ends of the connections a pipeline decodes, either way round;
/// every other segment is passed over unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Focus {
    /// One end.
    pub a: SocketAddr,
    /// The other.
    pub b: SocketAddr,
}

impl Focus {
    /// Whether a segment from `src` to `dst` is between the two ends.
    pub fn owns(self, src: SocketAddr, dst: SocketAddr) -> bool {
        (src == self.a && dst == self.b) || (src == self.b && dst == self.a)
    }
}

/// One of `count` pipelines that each see every packet of a capture and
/// decode the connections whose addresses hash to `index` (`stats -j`).
/// Both directions of a connection hash alike, so each connection, its
/// role decisions and its calls stay within one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 0.
    pub index: usize,
    /// How many shares.
    pub count: usize,
}

impl Shard {
    /// Whether a segment between `a` and `b` (either way) is this shard's.
    pub fn owns(self, a: SocketAddr, b: SocketAddr) -> bool {
        use std::hash::{BuildHasher, Hash, Hasher};
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        // Fixed seeds: the same connection lands in the same shard every run.
        let mut h = ahash::RandomState::with_seeds(7, 11, 13, 17).build_hasher();
        lo.hash(&mut h);
        hi.hash(&mut h);
        (h.finish() % self.count.max(1) as u64) as usize == self.index
    }

    /// The shard that counts what belongs to no connection (packets,
    /// bytes, what was ignored), so that the shards' counters add up.
    fn counts_packets(shard: Option<Shard>) -> bool {
        shard.is_none_or(|s| s.index == 0)
    }
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
            tls_keys: Arc::default(),
            tls_key_files: Vec::new(),
            keep_tls_records: false,
            names: crate::names::Names::new(),
            shard: None,
            focus: None,
        }
    }

    /// This configuration for share `index` of `count`: connections are
    /// numbered by their first packet (the numbers the shares agree on),
    /// and the connection and hold limits are split between the shares.
    pub fn sharded(&self, index: usize, count: usize) -> Self {
        let mut cfg = self.clone();
        let count = count.max(1);
        cfg.shard = Some(Shard { index, count });
        cfg.tcp.ids_from_packets = true;
        cfg.tcp.max_connections = (cfg.tcp.max_connections / count).max(1);
        cfg.tcp.max_hold_total /= count;
        cfg
    }
}

/// What the capture held, at packet level.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureCounters {
    /// Packets read.
    pub packets: u64,
    /// When the first was captured (relative times count from it).
    #[serde(skip)]
    pub first_packet: Option<Timestamp>,
    /// Bytes captured (sum of captured lengths).
    pub captured_bytes: u64,
    /// Packets carrying a TCP segment (a datagram rebuilt from fragments counts once).
    pub tcp_packets: u64,
    /// IPv4 datagrams rebuilt from their fragments.
    pub reassembled_datagrams: u64,
    /// Packets whose captured length was shorter than their wire length.
    pub snaplen_cut: u64,
    /// Packets ignored, by reason.
    pub ignored: BTreeMap<String, u64>,
    /// TLS connections that carried application data and were not decrypted
    /// (no key, no captured handshake, or keys that did not authenticate).
    pub tls_undecrypted: u64,
    /// Addresses DNS responses in the capture named.
    pub dns_names: u64,
}

impl CaptureCounters {
    /// Adds another capture's counters (several files read as one).
    pub fn merge(&mut self, other: &CaptureCounters) {
        self.packets += other.packets;
        self.first_packet = [self.first_packet, other.first_packet].into_iter().flatten().min();
        self.captured_bytes += other.captured_bytes;
        self.tcp_packets += other.tcp_packets;
        self.reassembled_datagrams += other.reassembled_datagrams;
        self.snaplen_cut += other.snaplen_cut;
        for (why, n) in &other.ignored {
            *self.ignored.entry(why.clone()).or_default() += n;
        }
        self.tls_undecrypted += other.tls_undecrypted;
        self.dns_names += other.dns_names;
    }
}

/// A connection's decoder chain and what the pipeline counts of it.
struct Upper {
    chain: Chain,
    counts: CallCounts,
}

/// Packets in, events out.
pub struct Pipeline<S: Sink> {
    tcp: FlowTable,
    defrag: net::defrag::Defragmenter,
    chains: ChainConfig,
    redact: Option<Arc<super::redact::Redactor>>,
    /// Boxed: the map grows to hold every connection open at once (up to
    /// the flow table's cap), and its spare buckets then cost a pointer each.
    conns: AHashMap<ConnId, Box<Upper>>,
    events: Vec<StreamEvent>,
    h2_events: Vec<H2Event>,
    /// TLS steps the chains released, delivered before `h2_events`.
    tls_steps: Vec<(ConnId, crate::tls::TlsStep)>,
    exchange_events: Vec<ExchangeEvent>,
    grpc_events: Vec<GrpcEvent>,
    /// Packet-level counters.
    pub counters: CaptureCounters,
    /// Set when the sink asked to stop: nothing more is decoded.
    stopped: Option<Stop>,
    /// The share of the connections this pipeline decodes, if not all.
    shard: Option<Shard>,
    /// The two ends whose connections alone this pipeline decodes, if set.
    focus: Option<Focus>,
    /// Names for addresses, from files and the capture's DNS answers.
    pub names: crate::names::Names,
    /// The sink receiving everything.
    pub sink: S,
}

impl<S: Sink> Pipeline<S> {
    /// A pipeline delivering to `sink`.
    pub fn new(cfg: PipelineConfig, sink: S) -> Self {
        Pipeline {
            tcp: FlowTable::new(cfg.tcp),
            defrag: net::defrag::Defragmenter::default(),
            chains: ChainConfig {
                h2: Arc::new(cfg.h2),
                limits: cfg.messages,
                max_call_bytes: cfg.max_call_bytes,
                tls_keys: cfg.tls_keys,
                keep_tls_records: cfg.keep_tls_records,
            },
            redact: cfg.redact,
            conns: AHashMap::new(),
            events: Vec::with_capacity(16),
            h2_events: Vec::with_capacity(16),
            tls_steps: Vec::new(),
            exchange_events: Vec::with_capacity(4),
            grpc_events: Vec::with_capacity(4),
            counters: CaptureCounters::default(),
            stopped: None,
            names: cfg.names,
            shard: cfg.shard,
            focus: cfg.focus,
            sink,
        }
    }

    /// The connections opened, by the packet that opened each, when this
    /// pipeline is a shard (see [`PipelineConfig::sharded`]).
    pub fn opened_ids(&self) -> &[ConnId] {
        self.tcp.opened_ids()
    }

    /// Why the sink stopped the run, if it did.
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }

    /// Records the sink's answer; the first stop wins.
    fn obey(&mut self, flow: Flow) {
        obey(&mut self.stopped, flow);
    }

    /// Processes one packet; [`Flow::Break`] once the sink has stopped the
    /// run (the caller stops reading).
    pub fn packet(&mut self, pkt: &Packet) -> Flow {
        if let Some(why) = self.stopped {
            return Flow::Break(why);
        }
        if self.counters.first_packet.is_none() {
            self.counters.first_packet = Some(pkt.ts);
            if let Flow::Break(why) = self.sink.capture_began(pkt.ts) {
                self.stopped = Some(why);
                return Flow::Break(why);
            }
        }
        if Shard::counts_packets(self.shard) {
            self.counters.packets += 1;
            self.counters.captured_bytes += pkt.data.len() as u64;
            if (pkt.data.len() as u64) < u64::from(pkt.orig_len) {
                self.counters.snaplen_cut += 1;
            }
        }
        match net::decode(pkt.link, &pkt.data) {
            Decoded::Tcp(seg) => self.segment(pkt, &pkt.data, &seg),
            Decoded::DnsResponse(at) => self.dns(pkt.data.get(at).unwrap_or_default()),
            Decoded::Ipv4Fragment(ip) => match self.defrag.add(pkt.ts, &pkt.data.slice(ip)) {
                net::defrag::Outcome::Complete(whole) => match net::decode(crate::capture::LinkType::RAW, &whole) {
                    Decoded::Tcp(seg) => self.segment(pkt, &whole, &seg),
                    Decoded::DnsResponse(at) => self.dns(whole.get(at).unwrap_or_default()),
                    Decoded::Skipped(why) => self.ignore(why),
                    Decoded::Ipv4Fragment(_) => self.ignore(Skip::Malformed),
                },
                net::defrag::Outcome::Held => {}
                net::defrag::Outcome::Unusable => self.ignore(Skip::Malformed),
            },
            Decoded::Skipped(why) => self.ignore(why),
        }
        match self.stopped {
            Some(why) => Flow::Break(why),
            None => CONTINUE,
        }
    }

    /// A TCP segment of `pkt` whose bytes are `data` (the packet's, or a
    /// datagram rebuilt from its fragments, the last of which `pkt` is).
    fn segment(&mut self, pkt: &Packet, data: &bytes::Bytes, seg: &net::Segment) {
        if self.shard.is_some_and(|s| !s.owns(seg.src, seg.dst))
            || self.focus.is_some_and(|f| !f.owns(seg.src, seg.dst))
        {
            return;
        }
        self.counters.tcp_packets += 1;
        let payload = data.slice(seg.payload.clone());
        self.tcp.segment(pkt.ts, pkt.number, seg, payload, &mut self.events);
        self.dispatch();
    }

    /// A DNS response: its addresses get the names it gives them. It is
    /// still counted with the UDP the pipeline does not decode.
    fn dns(&mut self, msg: &[u8]) {
        self.ignore(Skip::Udp);
        let counts = Shard::counts_packets(self.shard);
        for (name, ip) in net::dns::answers(msg).unwrap_or_default() {
            self.counters.dns_names += u64::from(counts);
            self.names.insert(ip, crate::names::Name::new(name, crate::names::NameSource::Dns));
        }
    }

    fn ignore(&mut self, why: Skip) {
        if !Shard::counts_packets(self.shard) {
            return;
        }
        *self.counters.ignored.entry(why.label().to_string()).or_default() += 1;
    }

    /// The capture ended: flushes every connection (unless the sink stopped
    /// the run: then nobody wants the rest).
    pub fn finish(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        self.tcp.finish(&mut self.events);
        self.dispatch();
        self.defrag.finish_capture();
        if !Shard::counts_packets(self.shard) {
            return;
        }
        if self.defrag.fragments_lost > 0 {
            *self.counters.ignored.entry(FRAGMENTS_LOST.to_string()).or_default() += self.defrag.fragments_lost;
        }
        self.counters.reassembled_datagrams = self.defrag.reassembled;
    }

    fn dispatch(&mut self) {
        let mut events = std::mem::take(&mut self.events);
        let mut i = 0;
        while let Some(ev) = events.get(i) {
            if self.stopped.is_some() {
                break;
            }
            let flow = self.sink.stream_event(ev);
            self.obey(flow);
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

    /// Feeds a TCP event to the connection's decoder chain. Returns
    /// `Some(swapped)` when the chain ran.
    fn upper_event(&mut self, ev: &StreamEvent) -> Option<bool> {
        let out = &mut self.h2_events;
        let cfg = &self.chains;
        match ev {
            StreamEvent::Open { conn, client, server, syn_seen, roles_guessed, .. } => {
                let chain = Chain::new(*conn, *client, *server, *syn_seen, *roles_guessed);
                self.conns.insert(*conn, Box::new(Upper { chain, counts: CallCounts::default() }));
                None
            }
            StreamEvent::Data { conn, dir, ts, offset, data, packet } => {
                let chain = &mut self.conns.get_mut(conn)?.chain;
                chain.data(cfg, *dir, *ts, *offset, data, *packet, out);
                self.tls_steps.extend(chain.take_tls_steps().into_iter().map(|s| (*conn, s)));
                Some(chain.take_swap())
            }
            StreamEvent::Gap { conn, dir, ts, offset, len } => {
                let chain = &mut self.conns.get_mut(conn)?.chain;
                chain.gap(cfg, *dir, *ts, *offset, *len, out);
                Some(chain.take_swap())
            }
            StreamEvent::Closed { conn, ts, reason } => {
                let chain = &mut self.conns.get_mut(conn)?.chain;
                chain.finish(cfg, out);
                self.tls_steps.extend(chain.take_tls_steps().into_iter().map(|s| (*conn, s)));
                // What the decoders released reaches the calls before they close.
                self.flush_h2();
                let u = self.conns.get_mut(conn)?;
                u.chain.closed(*reason, *ts, &mut self.grpc_events);
                self.flush_grpc();
                Some(false)
            }
            StreamEvent::Finished(summary) => {
                let steps = &mut self.tls_steps;
                let upper = self.conns.remove(&summary.id).map(|mut u| {
                    u.chain.finish(cfg, out);
                    steps.extend(u.chain.take_tls_steps().into_iter().map(|s| (summary.id, s)));
                    (u.chain.report(), u.counts)
                });
                self.flush_h2();
                let report = conn_report((**summary).clone(), upper, &self.names);
                if report.tls.as_deref().is_some_and(crate::tls::TlsSummary::undecrypted) {
                    self.counters.tls_undecrypted += 1;
                }
                let flow = self.sink.connection(report);
                self.obey(flow);
                None
            }
            StreamEvent::Conflict { conn, dir, offset, packet, .. } => {
                // The calls open now are the ones whose bytes may be disputed.
                self.flush_h2();
                self.conns.get_mut(conn)?.chain.retransmit_conflict(*dir, *offset, *packet);
                None
            }
            StreamEvent::Control { .. } | StreamEvent::Fin { .. } => None,
        }
    }

    fn flush_h2(&mut self) {
        for (conn, step) in self.tls_steps.drain(..) {
            if self.stopped.is_none() {
                obey(&mut self.stopped, self.sink.tls_step(conn, &step));
            }
        }
        for mut ev in self.h2_events.drain(..) {
            if self.stopped.is_some() {
                continue;
            }
            if let Some(r) = &self.redact {
                r.event(&mut ev);
            }
            obey(&mut self.stopped, self.sink.h2_event(&ev));
            if let Some(u) = self.conns.get_mut(&h2_conn(&ev)) {
                u.chain.h2_event(&ev, &mut self.exchange_events, &mut self.grpc_events);
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
            if self.stopped.is_some() {
                continue;
            }
            obey(&mut self.stopped, self.sink.grpc_event(ev));
        }
    }

    /// HTTP/2 content showed the client and server of `conn` reversed (the
    /// chain settled its roles before building its decoders): the TCP
    /// table, which guessed, and the byte-stream events not yet delivered
    /// follow it.
    fn swap_roles(&mut self, conn: ConnId, rest: &mut [StreamEvent]) {
        let Some(u) = self.conns.get(&conn) else {
            return;
        };
        let (client, server) = u.chain.endpoints();
        self.tcp.swap_roles(client, server);
        for ev in rest {
            match ev {
                StreamEvent::Data { conn: c, dir, .. }
                | StreamEvent::Gap { conn: c, dir, .. }
                | StreamEvent::Conflict { conn: c, dir, .. }
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

    /// Connections open now (seen, not yet ended or given up on).
    pub fn open_connections(&self) -> u64 {
        self.conns.len() as u64
    }

    /// The connections open now, as their records would read if they
    /// ended now (at most `limit`, in id order): a live view shows them
    /// before they close.
    pub fn open_reports(&self, limit: usize) -> Vec<ConnReport> {
        self.tcp
            .open_summaries(limit)
            .into_iter()
            .map(|tcp| {
                let upper = self.conns.get(&tcp.id).map(|u| (u.chain.report(), u.counts));
                conn_report(tcp, upper, &self.names)
            })
            .collect()
    }

    /// Connections seen so far.
    pub fn connections_seen(&self) -> u64 {
        self.tcp.connections_seen()
    }
}

/// A connection's record: its TCP facts, the names of its ends, and what
/// its decoder chain found and its calls, when the chain was built (ended
/// or still open alike).
fn conn_report(
    tcp: crate::tcp::ConnSummary,
    upper: Option<(crate::chain::StackReport, CallCounts)>,
    names: &crate::names::Names,
) -> ConnReport {
    let names = crate::chain::EndpointNames {
        client: names.get(tcp.client.ip()).cloned(),
        server: names.get(tcp.server.ip()).cloned(),
    };
    match upper {
        Some((stack, calls)) => ConnReport {
            tcp,
            protocol: stack.protocol,
            tls_server_name: stack.tls_server_name,
            tls: stack.tls.map(Box::new),
            h2: (!stack.h2.is_blank()).then(|| Box::new(stack.h2)),
            calls,
            names,
        },
        None => ConnReport {
            tcp,
            protocol: Protocol::Unknown,
            tls_server_name: None,
            tls: None,
            h2: None,
            calls: CallCounts::default(),
            names,
        },
    }
}

/// Records a sink's answer in `stopped`; the first stop wins. A free
/// function, for the loops that drain one of the pipeline's buffers while
/// they deliver (they cannot borrow the whole pipeline).
fn obey(stopped: &mut Option<Stop>, flow: Flow) {
    if let Flow::Break(why) = flow {
        stopped.get_or_insert(why);
    }
}

fn h2_conn(ev: &H2Event) -> ConnId {
    match ev {
        H2Event::Preface { conn, .. } | H2Event::Lost { conn, .. } => *conn,
        H2Event::Frame(f) => f.conn,
    }
}
