//! IPv4 fragment reassembly (RFC 791 §3.2, with RFC 815's hole bookkeeping
//! reduced to sorted pieces). The network layer is otherwise stateless;
//! this is its one state machine, bounded like a kernel's: datagrams of at
//! most 65,535 bytes, a cap on datagrams and bytes in progress, and a
//! 30-second life (Linux's ipfrag_time). Overlapping fragments that
//! disagree make the datagram unusable (as Linux drops it): never a guess.

use crate::time::Timestamp;
use ahash::AHashMap;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};

/// Datagrams in progress at most; the oldest is dropped past it.
pub const MAX_DATAGRAMS: usize = 4_096;
/// Fragment bytes held at most across all datagrams in progress.
pub const MAX_HELD_BYTES: usize = 64 << 20;
/// How long a datagram may wait for its fragments (capture time).
pub const LIFETIME_NANOS: i64 = 30_000_000_000;
/// An IPv4 datagram's largest size.
const MAX_DATAGRAM: usize = 65_535;

/// Source, destination, protocol and identification (RFC 791 §3.2).
type Key = ([u8; 4], [u8; 4], u8, u16);

/// One fragment's header fields.
#[derive(Debug, Clone, Copy)]
struct Fragment {
    key: Key,
    header_len: usize,
    /// Payload offset in bytes.
    offset: usize,
    more: bool,
}

/// Reads the fragment fields of the IPv4 header at the start of `ip`.
fn fragment_of(ip: &[u8]) -> Option<Fragment> {
    let first = *ip.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(first & 0x0f) * 4;
    let flags_offset = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    let key = (
        ip.get(12..16)?.try_into().ok()?,
        ip.get(16..20)?.try_into().ok()?,
        *ip.get(9)?,
        u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]),
    );
    (header_len >= 20 && ip.len() >= header_len).then_some(Fragment {
        key,
        header_len,
        offset: usize::from(flags_offset & 0x1fff) * 8,
        more: flags_offset & 0x2000 != 0,
    })
}

#[derive(Debug)]
struct Datagram {
    first_ts: Timestamp,
    /// The header of the fragment at offset 0, once seen.
    header: Option<Bytes>,
    /// Payload pieces by offset.
    pieces: BTreeMap<usize, Bytes>,
    /// The payload's length, once the last fragment was seen.
    total: Option<usize>,
    held: usize,
    fragments: u64,
}

/// What became of one fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Held until the rest arrives.
    Held,
    /// It completed its datagram: the whole IPv4 packet.
    Complete(Bytes),
    /// Not a fragment this reassembler can use (not IPv4, a bad header).
    Unusable,
}

/// Reassembles the IPv4 fragments of a capture.
#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: AHashMap<Key, Datagram>,
    /// Datagrams in the order they began (entries of finished ones are
    /// skipped when they come up): the oldest is found without a scan.
    order: VecDeque<(Timestamp, Key)>,
    held: usize,
    /// Fragments of datagrams that never completed, were dropped for a
    /// limit, or disagreed where they overlapped.
    pub fragments_lost: u64,
    /// Datagrams rebuilt.
    pub reassembled: u64,
}

impl Defragmenter {
    /// Takes the IPv4 packet `ip` (a fragment) seen at `ts`.
    pub fn add(&mut self, ts: Timestamp, ip: &Bytes) -> Outcome {
        let Some(f) = fragment_of(ip) else { return Outcome::Unusable };
        self.expire(ts);
        let total_len =
            usize::from(u16::from_be_bytes([ip.get(2).copied().unwrap_or(0), ip.get(3).copied().unwrap_or(0)]));
        let end = total_len.clamp(f.header_len, ip.len());
        let payload = ip.slice(f.header_len..end);
        if !self.pending.contains_key(&f.key) && self.pending.len() >= MAX_DATAGRAMS {
            self.drop_oldest();
        }
        if !self.pending.contains_key(&f.key) {
            self.order.push_back((ts, f.key));
        }
        let d = self.pending.entry(f.key).or_insert_with(|| Datagram {
            first_ts: ts,
            header: None,
            pieces: BTreeMap::new(),
            total: None,
            held: 0,
            fragments: 0,
        });
        d.fragments += 1;
        if f.offset == 0 {
            d.header = Some(ip.slice(..f.header_len));
        }
        if !f.more {
            d.total = Some(f.offset + payload.len());
        }
        let before = d.held;
        let too_large = f.offset + payload.len() + f.header_len > MAX_DATAGRAM;
        let misaligned = f.more && !payload.len().is_multiple_of(8);
        if too_large || misaligned || !Self::place(d, f.offset, payload) {
            // Linux drops such a datagram at once (RFC 5722 for IPv6 says the same).
            self.held = self.held.saturating_add(d.held - before);
            self.remove_lost(f.key);
            return Outcome::Held;
        }
        self.held = self.held.saturating_add(d.held - before);
        if let Some(packet) = Self::assemble(d) {
            return self.finish(f.key, packet);
        }
        while self.held > MAX_HELD_BYTES && !self.pending.is_empty() {
            self.drop_oldest();
        }
        Outcome::Held
    }

    /// Puts a piece in place; `false` when it overlaps a piece with other bytes.
    fn place(d: &mut Datagram, offset: usize, payload: Bytes) -> bool {
        let end = offset + payload.len();
        for (&at, piece) in d.pieces.range(..end) {
            let piece_end = at + piece.len();
            if piece_end <= offset {
                continue;
            }
            // The overlap, in both pieces' coordinates.
            let (from, to) = (offset.max(at), end.min(piece_end));
            if payload.get(from - offset..to - offset) != piece.get(from - at..to - at) {
                return false;
            }
        }
        d.held += payload.len();
        // An exact duplicate adds nothing new but does no harm.
        d.pieces.entry(offset).or_insert(payload);
        true
    }

    /// The whole packet when every byte is there, else `None`.
    fn assemble(d: &Datagram) -> Option<Vec<u8>> {
        let total = d.total?;
        let header = d.header.as_ref()?;
        let mut covered = 0;
        for (&at, piece) in &d.pieces {
            if at > covered {
                return None;
            }
            covered = covered.max(at + piece.len());
        }
        if covered < total {
            return None;
        }
        let mut out = Vec::with_capacity(header.len() + total);
        out.extend_from_slice(header);
        out.resize(header.len() + total, 0);
        for (&at, piece) in &d.pieces {
            let take = piece.len().min(total.saturating_sub(at));
            if let (Some(dst), Some(src)) =
                (out.get_mut(header.len() + at..header.len() + at + take), piece.get(..take))
            {
                dst.copy_from_slice(src);
            }
        }
        rewrite_header(&mut out, header.len());
        Some(out)
    }

    fn finish(&mut self, key: Key, packet: Vec<u8>) -> Outcome {
        let d = self.pending.remove(&key);
        self.held = self.held.saturating_sub(d.as_ref().map_or(0, |d| d.held));
        self.reassembled += 1;
        Outcome::Complete(Bytes::from(packet))
    }

    /// The oldest datagram still in progress.
    fn oldest(&mut self) -> Option<(Timestamp, Key)> {
        while let Some(&(ts, key)) = self.order.front() {
            if self.pending.get(&key).is_some_and(|d| d.first_ts == ts) {
                return Some((ts, key));
            }
            self.order.pop_front();
        }
        None
    }

    fn remove_lost(&mut self, key: Key) {
        if let Some(d) = self.pending.remove(&key) {
            self.fragments_lost += d.fragments;
            self.held = self.held.saturating_sub(d.held);
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((_, key)) = self.oldest() {
            self.remove_lost(key);
        }
    }

    /// Drops datagrams older than their lifetime, oldest first.
    fn expire(&mut self, now: Timestamp) {
        while let Some((ts, key)) = self.oldest() {
            if now.nanos_since(ts) <= LIFETIME_NANOS {
                break;
            }
            self.remove_lost(key);
        }
    }

    /// The capture ended: what is still waiting never completed.
    pub fn finish_capture(&mut self) {
        self.fragments_lost += self.pending.values().map(|d| d.fragments).sum::<u64>();
        self.pending.clear();
        self.order.clear();
        self.held = 0;
    }
}

/// The reassembled packet's header: its total length, no fragment fields,
/// and a fresh header checksum.
fn rewrite_header(packet: &mut [u8], header_len: usize) {
    let total = u16::try_from(packet.len()).unwrap_or(u16::MAX).to_be_bytes();
    if let Some(h) = packet.get_mut(..header_len) {
        if let Some(len) = h.get_mut(2..4) {
            len.copy_from_slice(&total);
        }
        if let Some(frag) = h.get_mut(6..8) {
            frag.copy_from_slice(&[0, 0]);
        }
        if let Some(sum) = h.get_mut(10..12) {
            sum.copy_from_slice(&[0, 0]);
        }
        let sum = super::checksum::ipv4_value(h);
        if let Some(field) = h.get_mut(10..12) {
            field.copy_from_slice(&sum.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 fragment of `payload` at byte `offset`, with MF when `more`.
    fn fragment(id: u16, offset: usize, more: bool, payload: &[u8]) -> Bytes {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h.extend_from_slice(payload);
        Bytes::from(h)
    }

    #[test]
    fn fragments_in_any_order_make_the_datagram() {
        let data: Vec<u8> = (0..40u8).collect();
        let mut d = Defragmenter::default();
        let ts = Timestamp(0);
        assert_eq!(d.add(ts, &fragment(7, 24, false, &data[24..])), Outcome::Held);
        assert_eq!(d.add(ts, &fragment(7, 0, true, &data[..16])), Outcome::Held);
        let Outcome::Complete(p) = d.add(ts, &fragment(7, 16, true, &data[16..24])) else { panic!("incomplete") };
        assert_eq!(&p[20..], &data[..]);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 60);
        assert_eq!(&p[6..8], &[0, 0]);
        assert_eq!(crate::net::checksum::ipv4_header(&p[..20]), crate::net::Checksum::Good);
        assert_eq!((d.reassembled, d.fragments_lost), (1, 0));
    }

    #[test]
    fn disagreeing_overlaps_and_stale_fragments_are_lost_not_guessed() {
        let mut d = Defragmenter::default();
        let ts = Timestamp(0);
        d.add(ts, &fragment(1, 0, true, &[1; 16]));
        d.add(ts, &fragment(1, 8, true, &[2; 16]));
        assert_eq!(d.fragments_lost, 2, "the datagram is dropped at the disagreement");
        assert_eq!(d.add(ts, &fragment(1, 24, false, &[3; 8])), Outcome::Held, "never rebuilt");
        d.add(ts, &fragment(2, 0, true, &[1; 8]));
        d.add(ts.add_nanos(LIFETIME_NANOS + 1), &fragment(3, 0, true, &[1; 8]));
        assert_eq!(d.fragments_lost, 4, "the two older datagrams expired");
        d.finish_capture();
        assert_eq!(d.fragments_lost, 5);
        assert_eq!(d.reassembled, 0);
    }
}
