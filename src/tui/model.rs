//! What the UI holds: every call, frame, TCP moment and connection found so
//! far, and the statistics over them. Filled by messages from the loader.

use super::kept::{call_key, CallKey, FullFrame, Kept};
use super::replay::Opened;
use super::rows::FrameMeta;
use crate::analysis::channels::{self, Channel, Reconnect};
use crate::analysis::doctor::Doctor;
use crate::analysis::pipeline::ConnReport;
use crate::analysis::stats::Stats;
use crate::capture::live::DropStats;
use crate::grpc::{Call, MethodInference, MethodKey};
use crate::net::TcpFlags;
use crate::present::{Decoder, MethodResolver};
use crate::tcp::{ConnId, Dir};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A row of the frames view.
#[derive(Debug, Clone)]
pub enum FrameRow {
    /// An HTTP/2 frame, as the list keeps it (the whole frame is in
    /// [`Model::kept`] or re-read from the capture).
    Frame(FrameMeta),
    /// A TCP packet with SYN, FIN or RST (or the handshake's last ACK).
    Tcp {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Dir,
        /// Time.
        ts: Timestamp,
        /// Flags.
        flags: TcpFlags,
        /// Packet number.
        packet: u64,
    },
    /// The client connection preface.
    Preface {
        /// Connection.
        conn: ConnId,
        /// Time.
        ts: Timestamp,
        /// The packet that completed it.
        packet: u64,
    },
    /// Bytes never captured.
    Lost {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Dir,
        /// Time.
        ts: Timestamp,
        /// How many.
        bytes: u64,
    },
}

impl FrameRow {
    /// The connection.
    pub fn conn(&self) -> ConnId {
        match self {
            FrameRow::Frame(f) => f.conn,
            FrameRow::Tcp { conn, .. } | FrameRow::Preface { conn, .. } | FrameRow::Lost { conn, .. } => *conn,
        }
    }

    /// The time.
    pub fn ts(&self) -> Timestamp {
        match self {
            FrameRow::Frame(f) => f.ts,
            FrameRow::Tcp { ts, .. } | FrameRow::Preface { ts, .. } | FrameRow::Lost { ts, .. } => *ts,
        }
    }
}

/// What the Frames view keeps by default, in bytes (estimated by
/// [`row_cost`]): several million rows, within a debug pod's memory, of a
/// hostile capture or the first part of a very large one. Calls, statistics
/// and findings see every frame; only the list stops growing.
pub const DEFAULT_FRAME_MEMORY: usize = 256 << 20;

/// What a live capture keeps of whole frames and calls for the details
/// panes by default (`--window`): the most recent ones.
pub const DEFAULT_WINDOW: usize = 256 << 20;

/// What a row keeps alive, roughly: the row, its summary and its header
/// fields (their bytes are shared with the call's). An estimate for the budget.
pub fn row_cost(r: &FrameRow) -> usize {
    // The allocator's own header, per heap object.
    const ALLOCATION: usize = 16;
    let base = std::mem::size_of::<FrameRow>();
    let FrameRow::Frame(f) = r else { return base };
    // A list shared with others (the calls', or other frames') costs this row nothing.
    let fields = f
        .fields
        .as_ref()
        .filter(|l| Arc::strong_count(l) == 1)
        .map_or(0, |l| ALLOCATION + l.len() * std::mem::size_of::<crate::grpc::HeaderPair>());
    let ops = f.table_ops.as_ref().map_or(0, |o| {
        ALLOCATION * 2 + o.inserted.iter().map(|(n, v)| n.len() + v.len() + 2 * ALLOCATION + 48).sum::<usize>()
    });
    base + ALLOCATION + f.summary.len() + fields + ops
}

/// Where a call goes in the Calls list: by start, then connection and stream.
fn list_order(c: &Call) -> (Timestamp, ConnId, u32) {
    (c.start, c.conn, c.stream_id)
}

/// What a listed call keeps alive, roughly: the call and its message
/// summaries (its header lists are mostly shared with other calls').
fn listed_call_cost(c: &Call) -> usize {
    const ALLOCATION: usize = 16;
    let messages = (c.requests.len() + c.responses.len()) * std::mem::size_of::<crate::grpc::message::Message>();
    let notes = c.notes.len() * std::mem::size_of::<crate::notes::Note>();
    std::mem::size_of::<Call>() + 4 * ALLOCATION + messages + notes
}

/// Distinct header lists shared between listed calls at most: calls to one
/// method from one client mostly send the same headers and get the same
/// response headers and trailers, so one list serves them all. Lists that
/// differ per call (a request id) fill it up to this, then go unshared.
const MAX_SHARED_HEADS: usize = 65_536;

/// The header lists the listed calls hold, one copy of each.
#[derive(Default)]
struct SharedHeads {
    lists: ahash::AHashSet<crate::grpc::HeaderList>,
}

impl SharedHeads {
    /// Makes `list` the copy kept of its contents, when one is.
    fn share(&mut self, list: &mut crate::grpc::HeaderList) {
        if let Some(kept) = self.lists.get(&**list) {
            *list = kept.clone();
        } else if self.lists.len() < MAX_SHARED_HEADS {
            self.lists.insert(list.clone());
        }
    }
}

/// A message from the loader thread.
pub enum Msg {
    /// A finished call.
    Call(Box<Call>),
    /// A frame (or preface, TCP moment, lost bytes).
    Frame(FrameRow),
    /// An HTTP/2 frame: the row the list keeps, and the whole frame (for
    /// the findings, and for the details panes while [`Model::keep_whole`]).
    H2(FrameMeta, FullFrame),
    /// A connection began: where, for re-reads.
    Opened(ConnId, Opened),
    /// A finished connection.
    Conn(Box<ConnReport>),
    /// FileDescriptorProtos learned from reflection traffic.
    Schema(std::net::SocketAddr, Vec<bytes::Bytes>),
    /// Bytes read so far and the file's size.
    Progress(u64, Option<u64>),
    /// Live capture counters.
    Drops(u64, Option<DropStats>),
    /// The capture's first packet was captured then.
    Began(Timestamp),
    /// Live: the connections open now, as they stand.
    Open(Vec<ConnReport>),
    /// The source is exhausted; its warnings.
    Done(Vec<String>),
    /// The source failed.
    Failed(String),
}

/// Everything the UI shows.
pub struct Model {
    /// Calls in start order.
    pub calls: Vec<Arc<Call>>,
    /// Frames and TCP moments in capture order, while [`Model::frame_budget`] lasts.
    pub frames: Vec<FrameRow>,
    /// Bytes the frames list may still keep.
    pub frame_budget: usize,
    /// Rows read after the budget ran out: counted, not kept.
    pub frames_not_kept: u64,
    /// What the frames list may hold (`--max-frame-memory`).
    pub frame_memory: usize,
    /// Live: the oldest rows let go to make room for new ones.
    pub frames_dropped: u64,
    /// Live: what the calls list may hold (`--window`), estimated.
    pub call_budget: usize,
    /// What the calls list holds, estimated (live).
    call_memory: usize,
    /// Live: the oldest calls let go from the list to make room.
    pub calls_dropped: u64,
    /// Whole frames and calls for the details panes.
    pub kept: Kept,
    /// Calls are listed without their message bytes and header encodings
    /// (set when [`Model::kept`] or a re-read can give them back).
    pub slim_calls: bool,
    /// Whole frames and calls go to [`Model::kept`] as they arrive (a live
    /// capture's window; off when the capture file is re-read instead).
    pub keep_whole: bool,
    /// Where each connection began, for re-reads.
    pub opened: ahash::AHashMap<ConnId, Opened>,
    /// Header lists the listed calls share.
    shared_heads: SharedHeads,
    /// Connections in id order.
    pub conns: Vec<ConnReport>,
    /// Live: connections still open, as of the last report (in id order;
    /// listed after [`Model::conns`], replaced at each report).
    pub open_conns: Vec<ConnReport>,
    /// Channels and reconnects (recomputed when connections change).
    pub channels: Vec<Channel>,
    /// Reconnects by connection.
    pub reconnects: BTreeMap<ConnId, Reconnect>,
    /// Each connection's channel: an index into `channels`.
    pub channel_of: BTreeMap<ConnId, usize>,
    /// Connections arrived since channels were last computed.
    channels_stale: bool,
    /// Statistics.
    pub stats: Stats,
    /// What `doctor` reads, for the Findings view.
    pub doctor: Doctor,
    /// Message decoding (schemas grow with reflection traffic).
    pub decoder: Decoder,
    /// Methods of calls whose `:path` is an HPACK entry from before the capture.
    resolver: MethodResolver,
    /// What each group of such calls resolved to when its calls were last updated.
    resolved: BTreeMap<(ConnId, MethodKey), Option<MethodInference>>,
    /// Where the packets come from, for the title.
    pub source: String,
    /// A live capture.
    pub live: bool,
    /// When the capture's first packet was captured (relative times count from it).
    pub first_packet: Option<Timestamp>,
    /// Bytes read and total (files).
    pub progress: (u64, Option<u64>),
    /// Live: packets captured and the kernel's counters.
    pub drops: Option<(u64, Option<DropStats>)>,
    /// All of the source has been read.
    pub done: bool,
    /// Warnings about the capture.
    pub warnings: Vec<String>,
    /// Why the source stopped, if it failed.
    pub failure: Option<String>,
}

impl Model {
    /// An empty model.
    pub fn new(source: String, live: bool, decoder: Decoder) -> Self {
        Model {
            calls: Vec::new(),
            frames: Vec::new(),
            frame_budget: DEFAULT_FRAME_MEMORY,
            frames_not_kept: 0,
            frame_memory: DEFAULT_FRAME_MEMORY,
            frames_dropped: 0,
            call_budget: DEFAULT_WINDOW,
            call_memory: 0,
            calls_dropped: 0,
            kept: Kept::new(DEFAULT_WINDOW),
            slim_calls: false,
            keep_whole: true,
            opened: ahash::AHashMap::new(),
            shared_heads: SharedHeads::default(),
            conns: Vec::new(),
            open_conns: Vec::new(),
            channels: Vec::new(),
            reconnects: BTreeMap::new(),
            channel_of: BTreeMap::new(),
            channels_stale: false,
            stats: Stats::default(),
            // One copy of the hops (a few hundred bytes a call): the statistics'.
            doctor: Doctor::lending_hops(),
            resolver: MethodResolver::new(&decoder),
            resolved: BTreeMap::new(),
            decoder,
            source,
            live,
            first_packet: None,
            progress: (0, None),
            drops: None,
            done: false,
            warnings: Vec::new(),
            failure: None,
        }
    }

    /// Connection row `i` of the Connections view: the ended ones, then
    /// (live) those still open.
    pub fn conn(&self, i: usize) -> Option<&ConnReport> {
        self.conns.get(i).or_else(|| i.checked_sub(self.conns.len()).and_then(|j| self.open_conns.get(j)))
    }

    /// Rows of the Connections view.
    pub fn conn_rows(&self) -> usize {
        self.conns.len() + self.open_conns.len()
    }

    /// Whether row `i` is a connection still open (live).
    pub fn conn_is_open(&self, i: usize) -> bool {
        i >= self.conns.len() && i < self.conn_rows()
    }

    /// Takes a message; returns where a call was inserted when that was
    /// before the end (calls are kept in start order and end in another:
    /// the rows after it moved down one).
    pub fn apply(&mut self, msg: Msg) -> Option<usize> {
        match msg {
            Msg::Call(mut c) => {
                self.infer(&mut c);
                self.stats.add_call(&c);
                self.doctor.add_call(&c);
                let key = list_order(&c);
                let at = self.calls.partition_point(|x| list_order(x) <= key);
                let shifted = at < self.calls.len();
                let row = if self.slim_calls { self.slim(c) } else { Arc::from(c) };
                if self.live {
                    self.call_memory += listed_call_cost(&row);
                }
                self.calls.insert(at, row);
                return shifted.then_some(at);
            }
            Msg::Frame(f) => self.keep_row(f),
            Msg::H2(meta, whole) => {
                self.doctor.add_frame(&whole.0);
                for n in &whole.0.notes {
                    *self.stats.problems.entry(n.code).or_default() += 1;
                }
                if self.keep_whole {
                    self.kept.keep_frame((meta.conn, meta.nth), whole);
                }
                self.keep_row(FrameRow::Frame(meta));
            }
            Msg::Opened(conn, o) => {
                self.opened.insert(conn, o);
            }
            Msg::Conn(c) => {
                // Statistics never stop: their answer is always to go on.
                let _ = crate::analysis::Sink::connection(&mut self.stats, (*c).clone());
                let _ = crate::analysis::Sink::connection(&mut self.doctor, (*c).clone());
                let at = self.conns.partition_point(|x| x.tcp.id < c.tcp.id);
                self.open_conns.retain(|o| o.tcp.id != c.tcp.id);
                self.conns.insert(at, *c);
                self.channels_stale = true;
            }
            Msg::Schema(server, files) => {
                self.decoder.learn(server, &files);
                self.resolver.refresh(&self.decoder);
            }
            Msg::Progress(read, total) => self.progress = (read, total),
            Msg::Drops(n, d) => self.drops = Some((n, d)),
            Msg::Began(ts) => self.first_packet = Some(ts),
            Msg::Open(list) => {
                // Those that ended since are in `conns`, with their final record.
                let ended: std::collections::BTreeSet<ConnId> = self.conns.iter().map(|c| c.tcp.id).collect();
                self.open_conns = list.into_iter().filter(|c| !ended.contains(&c.tcp.id)).collect();
            }
            Msg::Done(w) => {
                self.done = true;
                self.warnings = w;
            }
            Msg::Failed(e) => {
                self.done = true;
                self.failure = Some(e);
            }
        }
        None
    }

    /// The call as the list keeps it: without message bytes, header
    /// encodings or a non-gRPC body (the details pane gets them back from
    /// [`Model::kept`] or a re-read); the whole call goes to `kept`.
    fn slim(&mut self, whole: Box<Call>) -> Arc<Call> {
        let mut slim = Call { blocks: [None, None, None], response_body: None, ..(*whole).clone() };
        for m in slim.requests.iter_mut().chain(slim.responses.iter_mut()) {
            m.data = None;
        }
        for list in [&mut slim.request_headers, &mut slim.response_headers, &mut slim.trailers] {
            self.shared_heads.share(list);
        }
        slim.requests.shrink_to_fit();
        slim.responses.shrink_to_fit();
        if self.keep_whole {
            self.kept.keep_call(call_key(&whole), Arc::from(whole));
        }
        Arc::new(slim)
    }

    /// Lists a row while the budget lasts; once it is spent every later
    /// row is counted instead, so the list never has gaps.
    fn keep_row(&mut self, mut r: FrameRow) {
        if let FrameRow::Frame(FrameMeta { fields: Some(list), .. }) = &mut r {
            self.shared_heads.share(list);
        }
        let cost = row_cost(&r);
        if self.live {
            // Live, the newest rows matter: the oldest make room ([`Model::trim_live`]).
            self.frame_budget = self.frame_budget.saturating_sub(cost);
            self.frames.push(r);
            return;
        }
        if self.frames_not_kept > 0 || cost > self.frame_budget {
            self.frames_not_kept += 1;
            return;
        }
        self.frame_budget -= cost;
        self.frames.push(r);
    }

    /// The listed call `key` names, if it is listed.
    pub fn listed_call(&self, key: CallKey) -> Option<&Arc<Call>> {
        let (conn, stream, start) = key;
        let at = self.calls.partition_point(|x| list_order(x) < (start, conn, stream));
        self.calls.get(at).filter(|c| call_key(c) == key)
    }

    /// The number the Calls list shows for row `i`: its place among every
    /// call seen, counting those let go (live).
    pub fn call_number(&self, i: usize) -> u64 {
        self.calls_dropped + i as u64 + 1
    }

    /// Live: drops the oldest rows of a list whose budget is spent, an
    /// eighth of the budget at a time; returns how many calls and frames
    /// left the front of their lists.
    pub fn trim_live(&mut self) -> (usize, usize) {
        if !self.live {
            return (0, 0);
        }
        let (mut calls, mut frames) = (0, 0);
        if self.frame_budget == 0 {
            let mut freed = 0;
            while freed < self.frame_memory / 8 && frames < self.frames.len() {
                freed += self.frames.get(frames).map_or(0, row_cost);
                frames += 1;
            }
            self.frames.drain(..frames);
            self.frame_budget = freed;
            self.frames_dropped += frames as u64;
        }
        if self.call_memory > self.call_budget {
            let mut freed = 0;
            while freed < self.call_budget / 8 && calls < self.calls.len() {
                freed += self.calls.get(calls).map_or(0, |c| listed_call_cost(c));
                calls += 1;
            }
            self.calls.drain(..calls);
            self.call_memory = self.call_memory.saturating_sub(freed);
            self.calls_dropped += calls as u64;
        }
        (calls, frames)
    }

    /// Learns from a call and gives it (and, when the evidence changed,
    /// the earlier calls sharing its `:path` entry) the method the evidence
    /// names. A group's answer changes a few times at most (its candidates
    /// only shrink), so the earlier calls are revisited rarely.
    fn infer(&mut self, c: &mut Call) {
        self.resolver.observe(&self.decoder, c);
        let Some(key) = c.method_key() else { return };
        c.inferred = self.resolver.resolve(c);
        let group = (c.conn, key);
        if self.resolved.get(&group) == Some(&c.inferred) {
            return;
        }
        for call in self.calls.iter_mut().filter(|x| x.conn == group.0) {
            if call.method_key().as_ref() == Some(&group.1) {
                Arc::make_mut(call).inferred = c.inferred.clone();
            }
        }
        self.resolved.insert(group, c.inferred.clone());
    }

    /// Recomputes channels and reconnects if connections arrived: once per
    /// batch of messages, not once per connection.
    pub fn settle(&mut self) {
        if !self.channels_stale {
            return;
        }
        self.channels_stale = false;
        let (ch, rc) = channels::analyze(&self.conns);
        self.channel_of = ch.iter().enumerate().flat_map(|(i, c)| c.conns.iter().map(move |id| (*id, i))).collect();
        self.channels = ch;
        self.reconnects = rc;
    }

    /// The connection that replaced `conn`, if any: (its id, the gap in ms).
    pub fn followed_by(&self, conn: ConnId) -> Option<(ConnId, f64)> {
        self.reconnects.iter().find(|(_, r)| r.reconnect_of == conn).map(|(id, r)| (*id, r.gap_ms))
    }
}
