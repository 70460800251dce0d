//! The flow table: connections by 4-tuple, their lifecycle (handshake,
//! FIN, RST, reuse of the 4-tuple), idle eviction and a cap on how many are
//! tracked at once.

use super::half::{Emit, HalfStream};
use super::{ConnId, ConnSummary, Dir, EndReason, RoleEvidence, Side, StreamEvent};
use crate::net::Segment;
use crate::time::Timestamp;
use ahash::AHashMap;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;

const SECOND: i64 = 1_000_000_000;

/// Limits and hints for the TCP layer.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Bytes buffered ahead of a hole, per direction, before the hole is
    /// given up on and reported as a gap (`--max-reassembly-buffer`).
    pub max_buffered_per_direction: usize,
    /// A connection silent this long (capture time) is considered gone.
    pub idle_timeout_nanos: i64,
    /// A SYN unanswered this long is given up on.
    pub handshake_timeout_nanos: i64,
    /// A closed connection is kept this long to absorb its last ACKs.
    pub closed_linger_nanos: i64,
    /// Connections tracked at once; past it the least recently active are evicted.
    pub max_connections: usize,
    /// Ports known to be servers (`--h2-port`), to tell client from server
    /// when the handshake was not captured.
    pub server_ports: Vec<u16>,
    /// A segment that acknowledges bytes of the other direction not yet
    /// captured is held until they arrive: at most this many payload bytes
    /// per connection (`--max-reorder-hold`) ...
    pub max_hold_bytes: usize,
    /// ... and in all connections together ...
    pub max_hold_total: usize,
    /// ... and for at most this long in capture time (`--reorder-hold-time`).
    pub max_hold_nanos: i64,
    /// Number each connection by the capture packet that opened it, not
    /// 1, 2, 3: a capture split across threads (`stats -j`) has a table
    /// per thread, and packet numbers are what the threads share; the
    /// merge turns them back into 1, 2, 3 in the order they opened.
    pub ids_from_packets: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_buffered_per_direction: 4 * 1024 * 1024,
            idle_timeout_nanos: 3600 * SECOND,
            handshake_timeout_nanos: 60 * SECOND,
            closed_linger_nanos: 60 * SECOND,
            max_connections: 250_000,
            server_ports: Vec::new(),
            max_hold_bytes: 1024 * 1024,
            max_hold_total: 64 * 1024 * 1024,
            max_hold_nanos: SECOND,
            ids_from_packets: false,
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SynSent,
    SynReceived,
    Established,
    Closed,
}

/// A connection being tracked.
struct Conn {
    summary: ConnSummary,
    halves: [HalfStream; 2],
    state: State,
    client_isn: Option<u32>,
    end: Option<(EndReason, Timestamp)>,
    /// Segments held back, in capture order (see [`Hold`]).
    held: VecDeque<Held>,
    held_bytes: usize,
    /// Held segments per direction: whether a new one must queue behind them.
    held_per_dir: [usize; 2],
}

/// A segment captured before the bytes of the other direction it
/// acknowledges: processing it later puts a response after its request,
/// as the endpoints saw them.
struct Held {
    ts: Timestamp,
    packet: u64,
    seg: Segment,
    payload: Bytes,
}

/// What a held segment costs against the hold's bounds: its payload and
/// its record, so that a flood of bare ACKs is bounded too.
fn held_size(h: &Held) -> usize {
    h.payload.len() + std::mem::size_of::<Held>()
}

/// The bounds of holding segments back, and what all connections hold.
struct Hold {
    per_conn: usize,
    total_cap: usize,
    total: usize,
    nanos: i64,
}

/// The flow table: feed it segments in capture order, get [`StreamEvent`]s.
pub struct FlowTable {
    cfg: TcpConfig,
    /// Boxed: a full table's spare buckets then cost a pointer each, not a whole `Conn`.
    conns: AHashMap<(SocketAddr, SocketAddr), Box<Conn>>,
    next_id: ConnId,
    /// The ids given (only with `ids_from_packets`: they are not 1..n then).
    opened: Vec<ConnId>,
    clock: Timestamp,
    next_sweep: Option<Timestamp>,
    hold: Hold,
    /// Packets with RST for no known connection, ignored.
    pub stray_resets: u64,
    /// Connections evicted because the table was full.
    pub evicted_full: u64,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: TcpConfig) -> Self {
        let hold =
            Hold { per_conn: cfg.max_hold_bytes, total_cap: cfg.max_hold_total, total: 0, nanos: cfg.max_hold_nanos };
        FlowTable {
            hold,
            cfg,
            conns: AHashMap::new(),
            next_id: 1,
            opened: Vec::new(),
            clock: Timestamp(i64::MIN),
            next_sweep: None,
            stray_resets: 0,
            evicted_full: 0,
        }
    }

    /// Connections tracked right now.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Segments held back right now by the cross-direction hold, in all connections.
    pub fn held_segments(&self) -> usize {
        self.conns.values().map(|c| c.held.len()).sum()
    }

    /// Connections seen so far (tracked or not).
    pub fn connections_seen(&self) -> u64 {
        self.next_id - 1
    }

    /// The ids of every connection opened, in order, when they are packet
    /// numbers (`ids_from_packets`); empty otherwise.
    pub fn opened_ids(&self) -> &[ConnId] {
        &self.opened
    }

    /// Takes one segment captured at `ts` as packet `packet`; `payload` is
    /// its captured payload (a slice of the packet buffer).
    pub fn segment(&mut self, ts: Timestamp, packet: u64, seg: &Segment, payload: Bytes, out: &mut Vec<StreamEvent>) {
        self.advance_clock(ts, out);
        let k = key(seg.src, seg.dst);
        let new_syn = seg.flags.syn && !seg.flags.ack;
        if new_syn {
            if let Some(old) = self.conns.get(&k) {
                if old.client_isn != Some(seg.seq) || old.summary.client != seg.src {
                    if let Some(old) = self.conns.remove(&k) {
                        self.retire(old, EndReason::Superseded, out);
                    }
                }
            }
        }
        if !self.conns.contains_key(&k) {
            if seg.flags.rst && payload.is_empty() {
                self.stray_resets += 1;
                return;
            }
            if self.conns.len() >= self.cfg.max_connections {
                self.evict_least_recent(out);
            }
            let conn = self.open(ts, packet, seg, out);
            self.conns.insert(k, Box::new(conn));
        }
        let cap = self.cfg.max_buffered_per_direction;
        if let Some(conn) = self.conns.get_mut(&k) {
            conn.arrive(Held { ts, packet, seg: seg.clone(), payload }, cap, &mut self.hold, out);
        }
    }

    /// What every connection tracked now looks like so far (a live view's
    /// open connections), in id order, at most `limit` of them: their
    /// summaries as if the capture ended now (`OpenAtEnd`, unless a FIN or
    /// RST already ended one), the table left untouched.
    pub fn open_summaries(&self, limit: usize) -> Vec<ConnSummary> {
        let mut ids: Vec<&Conn> = self.conns.values().map(|c| &**c).collect();
        ids.sort_by_key(|c| c.summary.id);
        ids.into_iter()
            .take(limit)
            .map(|conn| {
                let mut s = conn.summary.clone();
                // Closed (FIN or RST) but not yet retired: it says how it ended.
                (s.end, s.end_ts) = conn.end.unwrap_or((EndReason::OpenAtEnd, s.last_ts));
                for (d, half) in s.dirs.iter_mut().zip(&conn.halves) {
                    *d = half.stats.clone();
                }
                s
            })
            .collect()
    }

    /// The upper layers found that `client` is really the server of the
    /// connection between these two endpoints: swap the roles.
    pub fn swap_roles(&mut self, client: SocketAddr, server: SocketAddr) {
        if let Some(c) = self.conns.get_mut(&key(client, server)) {
            c.swap_roles();
        }
    }

    /// The capture ended: every connection is flushed and reported, in id order.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let mut all: Vec<Box<Conn>> = self.conns.drain().map(|(_, c)| c).collect();
        all.sort_by_key(|c| c.summary.id);
        for conn in all {
            let reason = if conn.state == State::SynSent { EndReason::NoAnswer } else { EndReason::OpenAtEnd };
            self.retire(conn, reason, out);
        }
    }

    fn advance_clock(&mut self, ts: Timestamp, out: &mut Vec<StreamEvent>) {
        if ts > self.clock {
            self.clock = ts;
        }
        match self.next_sweep {
            None => self.next_sweep = Some(self.clock.add_nanos(SECOND)),
            Some(at) if self.clock >= at => {
                self.sweep(out);
                self.next_sweep = Some(self.clock.add_nanos(SECOND));
            }
            Some(_) => {}
        }
    }

    /// Retires connections whose time is up, in id order for determinism.
    fn sweep(&mut self, out: &mut Vec<StreamEvent>) {
        let now = self.clock;
        let cap = self.cfg.max_buffered_per_direction;
        let mut holding: Vec<(ConnId, (SocketAddr, SocketAddr))> =
            self.conns.iter().filter(|(_, c)| !c.held.is_empty()).map(|(k, c)| (c.summary.id, *k)).collect();
        holding.sort_unstable();
        for (_, k) in holding {
            if let Some(c) = self.conns.get_mut(&k) {
                c.release_expired(now, cap, &mut self.hold, out);
            }
        }
        let cfg = &self.cfg;
        let mut expired: Vec<((SocketAddr, SocketAddr), ConnId, EndReason)> = self
            .conns
            .iter()
            .filter_map(|(k, c)| {
                let quiet = now.nanos_since(c.summary.last_ts);
                let reason = match c.state {
                    State::Closed if quiet > cfg.closed_linger_nanos => EndReason::OpenAtEnd,
                    State::SynSent if quiet > cfg.handshake_timeout_nanos => EndReason::NoAnswer,
                    State::SynReceived | State::Established if quiet > cfg.idle_timeout_nanos => EndReason::Idle,
                    _ => return None,
                };
                Some((*k, c.summary.id, reason))
            })
            .collect();
        expired.sort_by_key(|e| e.1);
        for (k, _, reason) in expired {
            if let Some(conn) = self.conns.remove(&k) {
                self.retire(conn, reason, out);
            }
        }
    }

    /// The table is full: drop the tenth of connections quiet the longest.
    fn evict_least_recent(&mut self, out: &mut Vec<StreamEvent>) {
        let mut by_age: Vec<(Timestamp, ConnId, (SocketAddr, SocketAddr))> =
            self.conns.iter().map(|(k, c)| (c.summary.last_ts, c.summary.id, *k)).collect();
        let n = (by_age.len() / 10).max(1).min(by_age.len());
        if n < by_age.len() {
            by_age.select_nth_unstable(n);
        }
        let mut victims: Vec<_> = by_age.into_iter().take(n).collect();
        victims.sort_by_key(|v| v.1);
        for (_, _, k) in victims {
            if let Some(conn) = self.conns.remove(&k) {
                self.evicted_full += 1;
                self.retire(conn, EndReason::Evicted, out);
            }
        }
    }

    /// A connection leaves the table: flush, close if it was not, report.
    fn retire(&mut self, mut conn: Box<Conn>, reason: EndReason, out: &mut Vec<StreamEvent>) {
        let ts = conn.summary.last_ts;
        conn.release_all(self.cfg.max_buffered_per_direction, &mut self.hold, out);
        conn.flush(ts, out);
        let (end, end_ts) = conn.end.unwrap_or((reason, ts));
        if conn.state != State::Closed {
            out.push(StreamEvent::Closed { conn: conn.summary.id, ts, reason: end });
        }
        conn.summary.end = end;
        conn.summary.end_ts = end_ts;
        for (i, half) in conn.halves.iter().enumerate() {
            if let Some(d) = conn.summary.dirs.get_mut(i) {
                *d = half.stats.clone();
            }
        }
        out.push(StreamEvent::Finished(Box::new(conn.summary)));
    }

    fn open(&mut self, ts: Timestamp, packet: u64, seg: &Segment, out: &mut Vec<StreamEvent>) -> Conn {
        let (client, server, roles_from) = self.roles(seg);
        let id = if self.cfg.ids_from_packets { packet } else { self.next_id };
        if self.cfg.ids_from_packets {
            self.opened.push(id);
        }
        self.next_id += 1;
        let syn_seen = seg.flags.syn;
        let roles_guessed = roles_from == RoleEvidence::EphemeralPort;
        out.push(StreamEvent::Open { conn: id, ts, client, server, packet, syn_seen, roles_guessed });
        let state = match (seg.flags.syn, seg.flags.ack) {
            (true, false) => State::SynSent,
            (true, true) => State::SynReceived,
            _ => State::Established,
        };
        Conn {
            summary: ConnSummary {
                id,
                client,
                server,
                roles_from,
                first_ts: ts,
                last_ts: ts,
                syn_ts: None,
                synack_ts: None,
                ack_ts: None,
                established: false,
                dirs: Default::default(),
                end: EndReason::OpenAtEnd,
                first_fin: None,
                first_fin_ts: None,
                end_ts: ts,
            },
            halves: Default::default(),
            state,
            client_isn: None,
            end: None,
            held: VecDeque::new(),
            held_bytes: 0,
            held_per_dir: [0; 2],
        }
    }

    /// Decides which side is the client of a connection first seen with `seg`.
    fn roles(&self, seg: &Segment) -> (SocketAddr, SocketAddr, RoleEvidence) {
        let (s, d) = (seg.src, seg.dst);
        if seg.flags.syn {
            return if seg.flags.ack { (d, s, RoleEvidence::SynAck) } else { (s, d, RoleEvidence::Syn) };
        }
        let hint = &self.cfg.server_ports;
        if hint.contains(&d.port()) && !hint.contains(&s.port()) {
            return (s, d, RoleEvidence::PortHint);
        }
        if hint.contains(&s.port()) && !hint.contains(&d.port()) {
            return (d, s, RoleEvidence::PortHint);
        }
        let ephemeral = |p: u16| p >= 32_768;
        let src_is_client = match (ephemeral(s.port()), ephemeral(d.port())) {
            (true, false) => true,
            (false, true) => false,
            _ => s.port() >= d.port(),
        };
        if src_is_client {
            (s, d, RoleEvidence::EphemeralPort)
        } else {
            (d, s, RoleEvidence::EphemeralPort)
        }
    }
}

impl Conn {
    fn swap_roles(&mut self) {
        let s = &mut self.summary;
        std::mem::swap(&mut s.client, &mut s.server);
        s.roles_from = RoleEvidence::Content;
        s.first_fin = s.first_fin.map(Side::other);
        self.halves.swap(0, 1);
        self.held_per_dir.swap(0, 1);
        self.end = self.end.map(|(r, ts)| {
            let r = match r {
                EndReason::Fin { by, both } => EndReason::Fin { by: by.other(), both },
                EndReason::Rst { by } => EndReason::Rst { by: by.other() },
                r => r,
            };
            (r, ts)
        });
    }

    fn dir_of(&self, seg: &Segment) -> Dir {
        if seg.src == self.summary.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        }
    }

    /// A segment arrives: it is processed now, or held while it
    /// acknowledges bytes of the other direction not captured yet (and
    /// then so are the later segments of its direction, to keep their
    /// order). Each arrival may release what was held.
    fn arrive(&mut self, h: Held, cap: usize, hold: &mut Hold, out: &mut Vec<StreamEvent>) {
        self.release_expired(h.ts, cap, hold, out);
        let dir = self.dir_of(&h.seg);
        let behind_held = self.held_per_dir.get(dir.index()).is_some_and(|n| *n > 0);
        if (behind_held || self.acks_unseen(dir, &h.seg)) && !h.seg.flags.syn {
            let size = held_size(&h);
            let fits = self.held_bytes + size <= hold.per_conn && hold.total + size <= hold.total_cap;
            if fits {
                if !behind_held {
                    self.count(dir, |s| s.held_for_peer = s.held_for_peer.saturating_add(1));
                }
                self.held_bytes += size;
                hold.total += size;
                if let Some(n) = self.held_per_dir.get_mut(dir.index()) {
                    *n += 1;
                }
                // Copied: a slice would keep its whole packet buffer alive.
                let payload = Bytes::copy_from_slice(&h.payload);
                self.held.push_back(Held { payload, ..h });
                return;
            }
            self.release_all_expired(cap, hold, out);
        }
        self.segment(h.ts, h.packet, &h.seg, h.payload, cap, out);
        self.release_ready(cap, hold, out);
    }

    /// Whether `seg`, sent in `dir`, acknowledges bytes of the other direction not seen yet.
    fn acks_unseen(&self, dir: Dir, seg: &Segment) -> bool {
        seg.flags.ack && self.halves.get(dir.other().index()).is_some_and(|peer| peer.acks_unseen(seg.ack))
    }

    fn count(&mut self, dir: Dir, f: impl FnOnce(&mut super::HalfStats)) {
        if let Some(h) = self.halves.get_mut(dir.index()) {
            f(&mut h.stats);
        }
    }

    /// Processes held segments whose acknowledged bytes have arrived, the
    /// first of each direction first, until none can go.
    fn release_ready(&mut self, cap: usize, hold: &mut Hold, out: &mut Vec<StreamEvent>) {
        loop {
            let ready = [Dir::ToServer, Dir::ToClient].into_iter().find_map(|dir| {
                let i = self.held.iter().position(|x| self.dir_of(&x.seg) == dir)?;
                let first = self.held.get(i)?;
                (!self.acks_unseen(dir, &first.seg)).then_some(i)
            });
            let Some(i) = ready else { return };
            if let Some(h) = self.held.remove(i) {
                self.unhold(&h, hold);
                self.segment(h.ts, h.packet, &h.seg, h.payload, cap, out);
            }
        }
    }

    /// Releases, unmatched, what has been held longer than the bound allows.
    fn release_expired(&mut self, now: Timestamp, cap: usize, hold: &mut Hold, out: &mut Vec<StreamEvent>) {
        while self.held.front().is_some_and(|h| now.nanos_since(h.ts) > hold.nanos) {
            self.release_oldest(cap, hold, out);
        }
    }

    /// The byte bound is reached: releases everything held, oldest first.
    fn release_all_expired(&mut self, cap: usize, hold: &mut Hold, out: &mut Vec<StreamEvent>) {
        while !self.held.is_empty() {
            self.release_oldest(cap, hold, out);
        }
    }

    fn release_oldest(&mut self, cap: usize, hold: &mut Hold, out: &mut Vec<StreamEvent>) {
        if let Some(h) = self.held.pop_front() {
            self.unhold(&h, hold);
            let dir = self.dir_of(&h.seg);
            if self.acks_unseen(dir, &h.seg) {
                self.count(dir, |s| s.hold_expired = s.hold_expired.saturating_add(1));
            }
            self.segment(h.ts, h.packet, &h.seg, h.payload, cap, out);
            self.release_ready(cap, hold, out);
        }
    }

    /// The connection leaves the table: what is held goes through first.
    fn release_all(&mut self, cap: usize, hold: &mut Hold, out: &mut Vec<StreamEvent>) {
        self.release_ready(cap, hold, out);
        self.release_all_expired(cap, hold, out);
    }

    fn unhold(&mut self, h: &Held, hold: &mut Hold) {
        let dir = self.dir_of(&h.seg);
        if let Some(n) = self.held_per_dir.get_mut(dir.index()) {
            *n = n.saturating_sub(1);
        }
        self.held_bytes = self.held_bytes.saturating_sub(held_size(h));
        hold.total = hold.total.saturating_sub(held_size(h));
    }

    fn segment(
        &mut self,
        ts: Timestamp,
        packet: u64,
        seg: &Segment,
        payload: Bytes,
        cap: usize,
        out: &mut Vec<StreamEvent>,
    ) {
        let dir = self.dir_of(seg);
        let id = self.summary.id;
        // A held segment is processed later than newer ones were.
        self.summary.last_ts = self.summary.last_ts.max(ts);
        if let Some(h) = self.halves.get_mut(dir.index()) {
            h.stats.packets += 1;
            if seg.checksum == crate::net::Checksum::Bad {
                h.stats.bad_checksums = h.stats.bad_checksums.saturating_add(1);
            }
            h.window = seg.window;
            if seg.flags.syn {
                h.syn_scale = Some(seg.window_scale);
            }
        }
        let control = seg.flags.syn || seg.flags.fin || seg.flags.rst;
        if seg.flags.syn {
            self.syn(ts, dir, seg);
        }
        if seg.flags.rst {
            if self.rst_outside_window(dir, seg.seq) {
                if let Some(h) = self.halves.get_mut(dir.index()) {
                    h.stats.rst_outside_window = h.stats.rst_outside_window.saturating_add(1);
                }
                return;
            }
            self.reset(ts, packet, dir, seg.flags, out);
            return;
        }
        let completes_handshake =
            self.state == State::SynReceived && dir == Dir::ToServer && seg.flags.ack && !seg.flags.syn;
        if completes_handshake {
            self.state = State::Established;
            self.summary.ack_ts = Some(ts);
            self.summary.established = true;
        }
        if control || completes_handshake {
            out.push(StreamEvent::Control { conn: id, dir, ts, flags: seg.flags, packet });
        }
        if self.state == State::Closed
            && self.end.is_some_and(|(r, _)| matches!(r, EndReason::Rst { .. } | EndReason::Refused))
        {
            return;
        }
        let [to_server, to_client] = &mut self.halves;
        let (this, peer) = match dir {
            Dir::ToServer => (to_server, to_client),
            Dir::ToClient => (to_client, to_server),
        };
        let seq = if seg.flags.syn { seg.seq.wrapping_add(1) } else { seg.seq };
        // The acknowledgment first: it answers what the peer sent before
        // this segment, so a hole it reveals comes before this data and FIN.
        if seg.flags.ack {
            let mut pe = Emit { conn: id, dir: dir.other(), ts, packet, out };
            peer.peer_ack(&mut pe, seg.ack);
        }
        let mut e = Emit { conn: id, dir, ts, packet, out };
        if seg.wire_payload_len > 0 || seg.flags.fin {
            this.accept(&mut e, seq, payload, seg.wire_payload_len, seg.flags.fin, cap);
        }
        if seg.flags.fin {
            self.fin(ts, dir, out);
        }
    }

    /// Whether an RST from `dir` with sequence number `seq` lies outside
    /// the receiver's window around the next byte expected (RFC 9293
    /// §3.10.7.2). An observer's "next" may lag or lead the receiver's, so
    /// the window counts both ways; with the sender's position unknown
    /// (no SYN, no byte yet), every RST counts.
    fn rst_outside_window(&self, dir: Dir, seq: u32) -> bool {
        let (Some(sender), Some(receiver)) = (self.halves.get(dir.index()), self.halves.get(dir.other().index()))
        else {
            return false;
        };
        let Some(expected) = sender.next_seq() else { return false };
        // Scaling applies when both SYNs carried the option; unknown
        // without both SYNs: then the largest scale is assumed.
        let scale = match (sender.syn_scale, receiver.syn_scale) {
            (Some(Some(_)), Some(Some(r))) => u32::from(r),
            (Some(_), Some(_)) => 0,
            _ => 14,
        };
        let window = (u64::from(receiver.window.max(1)) << scale).max(u64::from(u16::MAX));
        let distance = i64::from(seq.wrapping_sub(expected) as i32).unsigned_abs();
        distance > window
    }

    fn syn(&mut self, ts: Timestamp, dir: Dir, seg: &Segment) {
        if let Some(h) = self.halves.get_mut(dir.index()) {
            h.set_syn(seg.seq);
        }
        if seg.flags.ack {
            self.summary.synack_ts.get_or_insert(ts);
            if self.state == State::SynSent {
                self.state = State::SynReceived;
            }
        } else {
            self.summary.syn_ts.get_or_insert(ts);
            self.client_isn.get_or_insert(seg.seq);
        }
    }

    fn reset(&mut self, ts: Timestamp, packet: u64, dir: Dir, flags: crate::net::TcpFlags, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Control { conn: self.summary.id, dir, ts, flags, packet });
        if self.end.is_some_and(|(r, _)| !matches!(r, EndReason::Fin { both: false, .. })) {
            return;
        }
        let reason = if self.state == State::SynSent && dir == Dir::ToClient {
            EndReason::Refused
        } else {
            EndReason::Rst { by: dir.sender() }
        };
        self.flush_at(ts, packet, out);
        self.state = State::Closed;
        self.end = Some((reason, ts));
        out.push(StreamEvent::Closed { conn: self.summary.id, ts, reason });
    }

    fn fin(&mut self, ts: Timestamp, dir: Dir, out: &mut Vec<StreamEvent>) {
        if self.summary.first_fin.is_none() {
            self.summary.first_fin = Some(dir.sender());
            self.summary.first_fin_ts = Some(ts);
        }
        match self.end {
            None => self.end = Some((EndReason::Fin { by: dir.sender(), both: false }, ts)),
            Some((EndReason::Fin { by, both: false }, at)) if by != dir.sender() => {
                let reason = EndReason::Fin { by, both: true };
                self.end = Some((reason, at));
                self.state = State::Closed;
                out.push(StreamEvent::Closed { conn: self.summary.id, ts, reason });
            }
            _ => {}
        }
    }

    fn flush(&mut self, ts: Timestamp, out: &mut Vec<StreamEvent>) {
        self.flush_at(ts, 0, out);
    }

    fn flush_at(&mut self, ts: Timestamp, packet: u64, out: &mut Vec<StreamEvent>) {
        let id = self.summary.id;
        for dir in [Dir::ToServer, Dir::ToClient] {
            if let Some(h) = self.halves.get_mut(dir.index()) {
                h.flush(&mut Emit { conn: id, dir, ts, packet, out });
            }
        }
    }
}

impl Side {
    /// Which array slot holds this side's sending direction.
    pub fn index(self) -> usize {
        self.sending().index()
    }
}
