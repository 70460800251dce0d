//! One direction of a TCP connection: sequence numbers to stream offsets,
//! out-of-order buffering, retransmission and overlap trimming, gaps.

use super::{ConnId, Dir, StreamEvent};
use crate::time::Timestamp;
use bytes::Bytes;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, Hasher};

/// Delivered pieces remembered (offset, length, hash) to tell a faithful
/// retransmission from one with other bytes.
const RECENT: usize = 64;

/// Counters for one direction of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HalfStats {
    /// Packets sent in this direction.
    pub packets: u64,
    /// Stream bytes delivered in order (each byte once, gaps excluded).
    pub bytes: u64,
    /// Segments whose bytes had all or partly been seen already.
    pub retransmitted: u32,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u32,
    /// Bytes that were never captured.
    pub gap_bytes: u64,
    /// Number of gaps.
    pub gaps: u32,
    /// Segments whose payload a snaplen cut short.
    pub truncated: u32,
    /// Times the out-of-order buffer was full and a hole was given up on early.
    pub buffer_overflows: u32,
    /// Segments whose checksum matched neither their bytes nor the offload
    /// pattern: damaged somewhere before the capture point, decoded anyway.
    pub bad_checksums: u32,
    /// Segments held back because they acknowledged bytes of the other
    /// direction not yet captured (a response captured before its request).
    pub held_for_peer: u32,
    /// Of those, segments released unmatched when the hold's byte or time
    /// bound was reached: the acknowledged bytes were never captured.
    pub hold_expired: u32,
    /// Retransmissions whose bytes differ from the copy already taken (the
    /// first copy is kept, as the Linux receiver keeps it).
    pub retransmit_conflicts: u32,
    /// RSTs whose sequence number lies outside the receiver's window: a
    /// TCP stack ignores them (RFC 9293 §3.10.7.2), and so do we.
    pub rst_outside_window: u32,
}

/// A piece of the stream waiting ahead of a hole.
#[derive(Debug)]
enum Piece {
    Data(Bytes),
    /// Bytes known to exist but not captured (a snaplen-cut payload).
    Missing(u64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Data(b) => b.len() as u64,
            Piece::Missing(n) => *n,
        }
    }
}

/// Where emitted events go and what they are stamped with.
pub(crate) struct Emit<'a> {
    pub conn: ConnId,
    pub dir: Dir,
    pub ts: Timestamp,
    pub packet: u64,
    pub out: &'a mut Vec<StreamEvent>,
}

/// The reassembly state of one direction.
#[derive(Debug, Default)]
pub(crate) struct HalfStream {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Next stream offset expected.
    next: u64,
    ooo: BTreeMap<u64, Piece>,
    ooo_bytes: usize,
    fin_at: Option<u64>,
    fin_done: bool,
    /// Highest offset the peer acknowledged.
    peer_acked: u64,
    /// The last pieces delivered: (offset, length, hash of the bytes).
    recent: VecDeque<(u64, usize, u64)>,
    /// The receive window this direction's sender last advertised (unscaled).
    pub window: u16,
    /// Its SYN was seen, with this window scale option (if any).
    pub syn_scale: Option<Option<u8>>,
    pub stats: HalfStats,
}

/// A fixed-key hash: the same bytes hash the same in every run.
fn digest(b: &[u8]) -> u64 {
    let mut h = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    h.write(b);
    h.finish()
}

impl HalfStream {
    /// The sequence number of the next byte expected, once known.
    pub fn next_seq(&self) -> Option<u32> {
        Some(self.base?.wrapping_add(self.next as u32))
    }

    /// Offset 0 is the byte after the SYN.
    pub fn set_syn(&mut self, isn: u32) {
        if self.base.is_none() {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// The stream offset of `seq`: the unwrapped value nearest the next
    /// expected byte, or `None` before the stream began or before any base.
    fn offset_of(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let rel = seq.wrapping_sub(base);
        let delta = i64::from(rel.wrapping_sub(self.next as u32) as i32);
        let off = (self.next as i64).checked_add(delta)?;
        u64::try_from(off).ok()
    }

    /// Takes a segment's payload (`data` captured of `wire_len` sent) and a FIN flag.
    pub fn accept(&mut self, e: &mut Emit<'_>, seq: u32, data: Bytes, wire_len: u32, fin: bool, cap: usize) {
        if self.base.is_none() && (wire_len > 0 || fin) {
            // Picked up mid-connection: this segment starts the stream we know.
            self.base = Some(seq);
        }
        let Some(off) = self.offset_of(seq) else {
            if wire_len > 0 {
                self.stats.retransmitted = self.stats.retransmitted.saturating_add(1);
            }
            return;
        };
        let captured = data.len() as u64;
        let missing = u64::from(wire_len).saturating_sub(captured);
        if captured > 0 {
            self.place(e, off, Piece::Data(data), cap);
        }
        if missing > 0 {
            self.stats.truncated = self.stats.truncated.saturating_add(1);
            self.place(e, off + captured, Piece::Missing(missing), cap);
        }
        if fin && self.fin_at.is_none() {
            self.fin_at = Some(off + captured + missing);
        }
        self.drain(e);
    }

    /// Whether `ack` (sent by the peer) acknowledges bytes of this direction
    /// that have not been delivered yet: the segment carrying it was
    /// captured before the bytes it answers.
    pub fn acks_unseen(&self, ack: u32) -> bool {
        let Some(off) = self.offset_of(ack) else {
            return false;
        };
        // The FIN takes one sequence number. Bytes already acknowledged by a
        // segment processed unmatched were given up on: not waited for twice.
        let fin = u64::from(self.fin_at.is_some_and(|f| f <= self.next));
        off > self.next.max(self.peer_acked) + fin
    }

    /// The peer acknowledged up to `ack`: bytes below it that we never saw
    /// were sent and received, so they are a gap rather than a delay.
    pub fn peer_ack(&mut self, e: &mut Emit<'_>, ack: u32) {
        let Some(mut off) = self.offset_of(ack) else {
            return;
        };
        if let Some(fin) = self.fin_at {
            off = off.min(fin);
        }
        if off > self.peer_acked {
            self.peer_acked = off;
        }
        self.drain(e);
    }

    fn place(&mut self, e: &mut Emit<'_>, off: u64, piece: Piece, cap: usize) {
        let end = off + piece.len();
        if off < self.next {
            if let Piece::Data(b) = &piece {
                self.check_copy(e, off, b);
            }
        }
        if end <= self.next {
            if matches!(piece, Piece::Data(_)) {
                self.stats.retransmitted = self.stats.retransmitted.saturating_add(1);
            }
            return;
        }
        if off <= self.next {
            if off < self.next {
                self.stats.retransmitted = self.stats.retransmitted.saturating_add(1);
            }
            self.deliver(e, off, piece);
            return;
        }
        if let (Some(Piece::Data(old)), Piece::Data(new)) = (self.ooo.get(&off), &piece) {
            let n = old.len().min(new.len());
            if old.get(..n) != new.get(..n) {
                self.conflict(e, off, n as u64);
            }
        }
        if matches!(piece, Piece::Data(_)) {
            self.stats.out_of_order = self.stats.out_of_order.saturating_add(1);
        }
        if self.ooo.get(&off).is_some_and(|p| p.len() >= piece.len()) {
            self.stats.retransmitted = self.stats.retransmitted.saturating_add(1);
            return;
        }
        let size = piece.len() as usize;
        while self.ooo_bytes.saturating_add(size) > cap && !self.ooo.is_empty() {
            self.stats.buffer_overflows = self.stats.buffer_overflows.saturating_add(1);
            self.skip_hole(e);
        }
        if off <= self.next || size > cap {
            // The hole before it was given up on, or it alone exceeds the cap.
            if off > self.next {
                self.stats.buffer_overflows = self.stats.buffer_overflows.saturating_add(1);
                self.gap(e, off - self.next);
            }
            self.deliver(e, off, piece);
            return;
        }
        let stored = match piece {
            // Copy: the packet buffer this slices may be large and long-lived.
            Piece::Data(b) => Piece::Data(Bytes::copy_from_slice(&b)),
            missing => missing,
        };
        self.ooo_bytes += stored_size(&stored);
        if let Some(old) = self.ooo.insert(off, stored) {
            self.ooo_bytes = self.ooo_bytes.saturating_sub(stored_size(&old));
        }
    }

    /// A copy of bytes already delivered: the same bytes, or a conflict.
    /// Compared where the copy has the boundaries of a delivered piece (a
    /// sender retransmits its segments as they were).
    fn check_copy(&mut self, e: &mut Emit<'_>, off: u64, b: &Bytes) {
        let Some(&(_, len, hash)) = self.recent.iter().find(|(o, l, _)| *o == off && *l <= b.len()) else {
            return;
        };
        if b.get(..len).is_some_and(|same| digest(same) != hash) {
            self.conflict(e, off, len as u64);
        }
    }

    fn conflict(&mut self, e: &mut Emit<'_>, offset: u64, len: u64) {
        self.stats.retransmit_conflicts = self.stats.retransmit_conflicts.saturating_add(1);
        e.out.push(StreamEvent::Conflict { conn: e.conn, dir: e.dir, ts: e.ts, offset, len, packet: e.packet });
    }

    /// Emits `piece` (which starts at or before `next`), trimmed to what is new.
    fn deliver(&mut self, e: &mut Emit<'_>, off: u64, piece: Piece) {
        let skip = self.next.saturating_sub(off);
        match piece {
            Piece::Data(b) => {
                let b = b.slice((skip as usize).min(b.len())..);
                if b.is_empty() {
                    return;
                }
                let len = b.len() as u64;
                if self.recent.len() >= RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back((self.next, b.len(), digest(&b)));
                e.out.push(StreamEvent::Data {
                    conn: e.conn,
                    dir: e.dir,
                    ts: e.ts,
                    offset: self.next,
                    data: b,
                    packet: e.packet,
                });
                self.stats.bytes += len;
                self.next += len;
            }
            Piece::Missing(n) => {
                let n = n.saturating_sub(skip);
                if n > 0 {
                    self.gap(e, n);
                }
            }
        }
    }

    fn gap(&mut self, e: &mut Emit<'_>, len: u64) {
        e.out.push(StreamEvent::Gap { conn: e.conn, dir: e.dir, ts: e.ts, offset: self.next, len });
        self.stats.gaps = self.stats.gaps.saturating_add(1);
        self.stats.gap_bytes += len;
        self.next += len;
    }

    /// Delivers buffered pieces that have become in order; turns acknowledged
    /// holes into gaps; reports the FIN once everything before it is through.
    fn drain(&mut self, e: &mut Emit<'_>) {
        loop {
            while let Some(entry) = self.ooo.first_entry() {
                if *entry.key() > self.next {
                    break;
                }
                let off = *entry.key();
                let piece = entry.remove();
                self.ooo_bytes = self.ooo_bytes.saturating_sub(stored_size(&piece));
                if off + piece.len() > self.next {
                    self.deliver(e, off, piece);
                }
            }
            // The peer acknowledged bytes never captured. A segment that
            // did so was held until they could arrive (the cross-direction
            // hold), so they were lost: say so now, not at the end, so a
            // call open across them is known to have lost them.
            let acked_hole = self.peer_acked > self.next;
            match self.ooo.keys().next().copied() {
                Some(first) if acked_hole => {
                    let upto = first.min(self.peer_acked);
                    self.gap(e, upto - self.next);
                }
                None if acked_hole && self.base.is_some() => {
                    let len = self.peer_acked - self.next;
                    self.gap(e, len);
                }
                _ => break,
            }
        }
        if self.fin_at == Some(self.next) && !self.fin_done {
            self.fin_done = true;
            e.out.push(StreamEvent::Fin { conn: e.conn, dir: e.dir, ts: e.ts });
        }
    }

    /// Gives up on the hole before the first buffered piece.
    fn skip_hole(&mut self, e: &mut Emit<'_>) {
        if let Some(first) = self.ooo.keys().next().copied() {
            if first > self.next {
                self.gap(e, first - self.next);
            }
            self.drain(e);
        }
    }

    /// The connection is over: everything buffered comes out, holes become
    /// gaps, and bytes the peer acknowledged but we never saw are a final gap.
    pub fn flush(&mut self, e: &mut Emit<'_>) {
        while !self.ooo.is_empty() {
            self.skip_hole(e);
        }
        let end = self.fin_at.map_or(self.peer_acked, |f| f.max(self.peer_acked));
        if self.base.is_some() && end > self.next {
            self.gap(e, end - self.next);
        }
        self.drain(e);
    }
}

/// Memory a buffered piece holds.
fn stored_size(p: &Piece) -> usize {
    match p {
        Piece::Data(b) => b.len(),
        Piece::Missing(_) => 0,
    }
}
