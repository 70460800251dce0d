//! Which packets an extract keeps (`-w OUT.pcap` with `--filter` on a
//! capture file): a first pass over the capture notes where each packet's
//! bytes and each HTTP/2 frame lie in their connection's streams; the
//! calls that match choose their connections; then, with `--write-scope
//! call` (the default), a packet is left out only when every byte it
//! carries belongs to whole frames the chosen calls do not need: DATA,
//! WINDOW_UPDATE, RST_STREAM and PRIORITY of other streams, and header
//! blocks of other streams that leave the HPACK tables as they were. What
//! the chosen calls need stays: the handshake, the preface, SETTINGS, PINGs
//! and GOAWAYs, every header block that inserts into a dynamic table, and
//! every frame of the chosen streams. The writer then moves the kept
//! packets' sequence numbers back over the bytes left out ([`Selection`]),
//! so the extract is an unbroken stream that decodes on its own.
//!
//! A connection whose streams cannot be mapped to packets this way (TLS,
//! retransmissions, reordering, gaps, or more packets than
//! [`MAX_TRACKED_PACKETS`]) is written whole.

use crate::analysis::pipeline::ConnReport;
use crate::grpc::Call;
use crate::h2::frame::FrameType;
use crate::h2::H2Event;
use crate::tcp::{ConnId, Dir, StreamEvent};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;

/// Packets whose place in their streams is noted, in all: past it, the
/// connections still open are written whole (memory stays bounded).
pub const MAX_TRACKED_PACKETS: usize = 4_000_000;

/// How much of the matching calls' traffic an extract holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WriteScope {
    /// The calls' own packets, with what decoding them needs.
    #[default]
    Call,
    /// The whole connections that carried them.
    Conn,
}

/// One frame's bytes in a direction's stream.
#[derive(Debug, Clone, Copy)]
struct FrameSpan {
    start: u64,
    end: u64,
    stream_id: u32,
    /// Other streams' frames of this kind may be left out.
    droppable_kind: bool,
    /// A header block fragment of a block that changed the HPACK tables.
    hpack_state: bool,
}

/// A packet's bytes in a direction's stream.
#[derive(Debug, Clone, Copy)]
struct PacketSpan {
    packet: u64,
    dir: Dir,
    start: u64,
    end: u64,
}

/// What the first pass noted of one connection.
#[derive(Debug, Default)]
struct ConnTrace {
    client: Option<SocketAddr>,
    server: Option<SocketAddr>,
    first_packet: u64,
    /// The packets' bytes can be told apart frame by frame.
    mappable: bool,
    packets: Vec<PacketSpan>,
    frames: [Vec<FrameSpan>; 2],
}

impl ConnTrace {
    fn frames_of(&self, dir: Dir) -> &[FrameSpan] {
        let [to_server, to_client] = &self.frames;
        if dir == Dir::ToServer {
            to_server
        } else {
            to_client
        }
    }
}

/// The first pass: fed the pipeline's events (and each finished call,
/// with whether it matched), it ends in a [`Selection`].
#[derive(Debug, Default)]
pub struct ExtractPlan {
    scope: WriteScope,
    conns: HashMap<ConnId, ConnTrace>,
    chosen_streams: HashSet<(ConnId, u32)>,
    chosen_conns: BTreeSet<ConnId>,
    tracked: usize,
}

impl ExtractPlan {
    /// A plan for `scope`.
    pub fn new(scope: WriteScope) -> Self {
        ExtractPlan { scope, ..Default::default() }
    }

    /// A TCP event.
    pub fn stream_event(&mut self, ev: &StreamEvent) {
        match ev {
            StreamEvent::Open { conn, client, server, packet, .. } => {
                let t = self.conns.entry(*conn).or_default();
                (t.client, t.server, t.first_packet, t.mappable) = (Some(*client), Some(*server), *packet, true);
            }
            StreamEvent::Data { conn, dir, offset, data, packet, .. } => {
                let over = self.tracked >= MAX_TRACKED_PACKETS;
                let Some(t) = self.conns.get_mut(conn) else { return };
                if over {
                    t.mappable = false;
                }
                if !t.mappable {
                    return;
                }
                // Bytes a later packet made available (a hole filled) are
                // not that packet's own: the connection cannot be mapped.
                if t.packets.last().is_some_and(|p| p.packet == *packet) {
                    t.mappable = false;
                }
                let end = offset + data.len() as u64;
                t.packets.push(PacketSpan { packet: *packet, dir: *dir, start: *offset, end });
                self.tracked += 1;
            }
            StreamEvent::Gap { conn, .. } | StreamEvent::Conflict { conn, .. } => self.unmappable(*conn),
            _ => {}
        }
    }

    fn unmappable(&mut self, conn: ConnId) {
        if let Some(t) = self.conns.get_mut(&conn) {
            t.mappable = false;
        }
    }

    /// An HTTP/2 event.
    pub fn h2_event(&mut self, ev: &H2Event) {
        let H2Event::Frame(f) = ev else { return };
        let Some(t) = self.conns.get_mut(&f.conn) else { return };
        if !f.carriers.is_empty() {
            // Decrypted: frame offsets are in the plaintext, not in the packets.
            t.mappable = false;
        }
        if !t.mappable {
            return;
        }
        let kind = f.header.kind;
        let stream_id = f.header.stream_id;
        // Flow control is no decoder's business: WINDOW_UPDATEs of the
        // connection may go too. SETTINGS, PING and GOAWAY stay.
        let droppable_kind = match kind {
            FrameType::WINDOW_UPDATE => true,
            FrameType::DATA | FrameType::RST_STREAM | FrameType::PRIORITY => stream_id != 0,
            FrameType::HEADERS | FrameType::CONTINUATION => stream_id != 0,
            _ => false,
        };
        let start = f.offset;
        let end = start + 9 + u64::from(f.header.length);
        let [to_server, to_client] = &mut t.frames;
        let frames = if f.dir == Dir::ToServer { to_server } else { to_client };
        frames.push(FrameSpan { start, end, stream_id, droppable_kind, hpack_state: false });
        // A completed header block that changed the tables: every frame
        // carrying a fragment of it stays.
        if let Some(block) = &f.block {
            let inserts = !block.decoded.size_updates.is_empty()
                || block
                    .decoded
                    .fields
                    .iter()
                    .any(|x| x.repr.kind == crate::h2::hpack::Representation::IncrementalIndexing);
            if inserts {
                for (at, _) in &block.fragments {
                    if let Some(fr) = frames.iter_mut().rev().find(|fr| fr.start <= *at && *at < fr.end) {
                        fr.hpack_state = true;
                    }
                }
            }
        }
    }

    /// A finished call, and whether it matched the filter.
    pub fn call(&mut self, call: &Call, matched: bool) {
        if matched {
            self.chosen_streams.insert((call.conn, call.stream_id));
            self.chosen_conns.insert(call.conn);
        }
    }

    /// A connection's final record: retransmitted or reordered segments
    /// make its packets unmappable.
    pub fn connection(&mut self, r: &ConnReport) {
        let messy = r.tcp.dirs.iter().any(|h| h.retransmitted > 0 || h.out_of_order > 0 || h.gaps > 0);
        if messy {
            self.unmappable(r.tcp.id);
        }
    }

    /// The packets to write.
    pub fn finish(self) -> Selection {
        let mut by_tuple: HashMap<(SocketAddr, SocketAddr), Vec<(u64, ConnId)>> = HashMap::new();
        let mut drop = HashSet::new();
        let mut whole = BTreeSet::new();
        let mut brought = 0;
        for (id, t) in &self.conns {
            if let (Some(c), Some(s)) = (t.client, t.server) {
                by_tuple.entry((c, s)).or_default().push((t.first_packet, *id));
            }
            if !self.chosen_conns.contains(id) {
                continue;
            }
            if self.scope == WriteScope::Conn || !t.mappable {
                whole.insert(*id);
                continue;
            }
            let mut kept = kept_streams(t, |s| self.chosen_streams.contains(&(*id, s)));
            let chosen_here = kept.iter().filter(|s| self.chosen_streams.contains(&(*id, **s))).count();
            let dropped = loop {
                let keep = |f: &FrameSpan| !f.droppable_kind || kept.contains(&f.stream_id);
                let dropped: Vec<u64> = t
                    .packets
                    .iter()
                    .filter(|p| p.end > p.start && covered_by_droppable(t.frames_of(p.dir), p.start, p.end, &keep))
                    .map(|p| p.packet)
                    .collect();
                // A kept packet keeps every frame in it: their streams are
                // then kept whole, so that no call is half in the extract.
                let dropped_set: HashSet<u64> = dropped.iter().copied().collect();
                let before = kept.len();
                for p in t.packets.iter().filter(|p| !dropped_set.contains(&p.packet)) {
                    for f in frames_within(t.frames_of(p.dir), p.start, p.end) {
                        if f.stream_id != 0 {
                            kept.insert(f.stream_id);
                        }
                    }
                }
                if kept.len() == before {
                    break dropped;
                }
            };
            brought += kept.len() - chosen_here;
            drop.extend(dropped);
        }
        for list in by_tuple.values_mut() {
            list.sort_unstable();
        }
        Selection { by_tuple, chosen: self.chosen_conns, whole, drop, left_out: HashMap::new(), brought }
    }
}

/// The streams an extract keeps whole: the chosen ones, and every other
/// whose header block changed the HPACK tables before the chosen calls'
/// last frame in that direction (later blocks may read those entries; a
/// stream kept for that reason is kept whole, so it decodes as a call and
/// not as a fragment of one).
fn kept_streams(t: &ConnTrace, chosen: impl Fn(u32) -> bool) -> HashSet<u32> {
    let mut kept = HashSet::new();
    for frames in &t.frames {
        let last_needed = frames.iter().filter(|f| f.stream_id != 0 && chosen(f.stream_id)).map(|f| f.end).max();
        for f in frames {
            let needed_state = f.hpack_state && last_needed.is_some_and(|end| f.start < end);
            if f.stream_id != 0 && (chosen(f.stream_id) || needed_state) {
                kept.insert(f.stream_id);
            }
        }
    }
    kept
}

/// The frames that overlap `[start, end)`.
fn frames_within(frames: &[FrameSpan], start: u64, end: u64) -> impl Iterator<Item = &FrameSpan> {
    let first = frames.partition_point(|f| f.end <= start);
    frames.get(first..).unwrap_or_default().iter().take_while(move |f| f.start < end)
}

/// Whether `[start, end)` is exactly a run of whole frames, none kept.
fn covered_by_droppable(frames: &[FrameSpan], start: u64, end: u64, keep: &impl Fn(&FrameSpan) -> bool) -> bool {
    let Ok(mut i) = frames.binary_search_by_key(&start, |f| f.start) else { return false };
    let mut at = start;
    while at < end {
        let Some(f) = frames.get(i) else { return false };
        if f.start != at || f.end > end || keep(f) {
            return false;
        }
        at = f.end;
        i += 1;
    }
    at == end
}

/// The second pass's answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not part of the extract.
    Skip,
    /// Written as captured.
    Copy,
    /// Written with its sequence number moved back by `seq_back` and its
    /// acknowledgment number by `ack_back`.
    Shift {
        /// Bytes left out before it in its own direction.
        seq_back: u32,
        /// Bytes left out before it in the other direction.
        ack_back: u32,
    },
}

/// The packets of an extract, decided packet by packet in capture order.
#[derive(Debug)]
pub struct Selection {
    by_tuple: HashMap<(SocketAddr, SocketAddr), Vec<(u64, ConnId)>>,
    chosen: BTreeSet<ConnId>,
    whole: BTreeSet<ConnId>,
    drop: HashSet<u64>,
    /// Bytes left out so far, by connection and direction.
    left_out: HashMap<ConnId, [u32; 2]>,
    brought: usize,
}

impl Selection {
    /// Streams of calls that did not match, kept whole because the
    /// matching calls' HPACK state or packets needed them.
    pub fn brought_along(&self) -> usize {
        self.brought
    }

    /// Connections the extract holds.
    pub fn connections(&self) -> usize {
        self.chosen.len()
    }

    /// Connections written whole though only some of their calls matched
    /// (their packets could not be told apart by frame), when the scope is
    /// `call`.
    pub fn whole(&self) -> &BTreeSet<ConnId> {
        &self.whole
    }

    /// What to do with packet `number`, sent from `src` to `dst` with
    /// `payload_len` bytes of TCP payload.
    pub fn decide(&mut self, number: u64, src: SocketAddr, dst: SocketAddr, payload_len: u32) -> Decision {
        let (conn, dir) = match self.conn_of(number, src, dst) {
            Some(v) => v,
            None => return Decision::Skip,
        };
        if !self.chosen.contains(&conn) {
            return Decision::Skip;
        }
        if self.whole.contains(&conn) {
            return Decision::Copy;
        }
        let [to_server, to_client] = self.left_out.entry(conn).or_insert([0, 0]);
        let (own, other) = if dir == Dir::ToServer { (to_server, to_client) } else { (to_client, to_server) };
        if self.drop.contains(&number) {
            *own = own.wrapping_add(payload_len);
            return Decision::Skip;
        }
        match (*own, *other) {
            (0, 0) => Decision::Copy,
            (seq_back, ack_back) => Decision::Shift { seq_back, ack_back },
        }
    }

    /// The connection a packet belongs to: the latest one of its addresses
    /// opened at or before it.
    fn conn_of(&self, number: u64, src: SocketAddr, dst: SocketAddr) -> Option<(ConnId, Dir)> {
        let pick = |list: &Vec<(u64, ConnId)>| list.iter().rev().find(|(first, _)| *first <= number).map(|(_, c)| *c);
        if let Some(c) = self.by_tuple.get(&(src, dst)).and_then(pick) {
            return Some((c, Dir::ToServer));
        }
        self.by_tuple.get(&(dst, src)).and_then(pick).map(|c| (c, Dir::ToClient))
    }
}

/// A sink that feeds a plan beside the sink it wraps.
pub struct Extracting<S> {
    /// The command's own sink.
    pub inner: S,
    /// The plan.
    pub plan: ExtractPlan,
    /// Which calls the extract is of (`--filter`).
    pub matches: Box<dyn Fn(&Call) -> bool + Send>,
}

impl<S: crate::analysis::Sink> crate::analysis::Sink for Extracting<S> {
    fn stream_event(&mut self, ev: &StreamEvent) -> crate::analysis::Flow {
        self.plan.stream_event(ev);
        self.inner.stream_event(ev)
    }

    fn h2_event(&mut self, ev: &H2Event) -> crate::analysis::Flow {
        self.plan.h2_event(ev);
        self.inner.h2_event(ev)
    }

    fn grpc_event(&mut self, ev: crate::grpc::GrpcEvent) -> crate::analysis::Flow {
        if let crate::grpc::GrpcEvent::Finished(call) = &ev {
            let matched = (self.matches)(call);
            self.plan.call(call, matched);
        }
        self.inner.grpc_event(ev)
    }

    fn tls_step(&mut self, conn: ConnId, step: &crate::tls::TlsStep) -> crate::analysis::Flow {
        self.inner.tls_step(conn, step)
    }

    fn connection(&mut self, r: ConnReport) -> crate::analysis::Flow {
        self.plan.connection(&r);
        self.inner.connection(r)
    }

    fn capture_began(&mut self, ts: crate::time::Timestamp) -> crate::analysis::Flow {
        self.inner.capture_began(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(start: u64, len: u64, stream_id: u32, droppable_kind: bool) -> FrameSpan {
        FrameSpan { start, end: start + len, stream_id, droppable_kind, hpack_state: false }
    }

    #[test]
    fn a_packet_goes_only_when_it_is_whole_frames_nobody_needs() {
        let frames = [frame(0, 20, 1, true), frame(20, 30, 3, true), frame(50, 9, 0, false), frame(59, 41, 3, true)];
        let keep = |f: &FrameSpan| !f.droppable_kind || f.stream_id == 1;
        assert!(covered_by_droppable(&frames, 20, 50, &keep), "stream 3's frame alone");
        assert!(!covered_by_droppable(&frames, 0, 50, &keep), "stream 1 is chosen");
        assert!(!covered_by_droppable(&frames, 20, 59, &keep), "a SETTINGS frame");
        assert!(!covered_by_droppable(&frames, 59, 80, &keep), "half a frame");
        assert!(!covered_by_droppable(&frames, 25, 50, &keep), "starts inside a frame");
        assert!(covered_by_droppable(&frames, 59, 100, &keep));
    }
}
