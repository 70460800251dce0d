//! The benchmark capture generator: one recorded real connection (the
//! `bench_seed` fixture) replayed as many times as a benchmark needs, each
//! copy with its own client address and sequence numbers, several copies at
//! a time so their packets interleave as a busy server's do.
//!
//! Everything above TCP is the recorded bytes, untouched: the HPACK
//! dynamic tables, the stream ids and the protobuf bodies are real tonic
//! traffic, and each copy is a whole connection from SYN to FIN, so every
//! copy decodes exactly as the seed does. Checksums are recomputed, so tshark
//! and the kernel (for live replays) take the packets as valid.

use crate::capture::{LinkType, Packet};
use crate::net::link::{strip_link, Inner};
use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One packet of the seed, with where its headers are.
#[derive(Debug, Clone)]
struct SeedPacket {
    /// Nanoseconds since the seed's first packet.
    offset: i64,
    data: Vec<u8>,
    /// Where the IPv4 header starts.
    ip: usize,
    /// Where the TCP header starts.
    tcp: usize,
    from_client: bool,
}

/// A recorded connection ready to be replayed.
#[derive(Debug, Clone)]
pub struct Seed {
    link: LinkType,
    packets: Vec<SeedPacket>,
    /// Nanoseconds from the first packet to the last.
    duration: i64,
    start: Timestamp,
}

/// Why a capture cannot serve as a seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError(pub String);

impl std::fmt::Display for SeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Seed {
    /// Takes the packets of one IPv4 TCP connection, starting with its SYN.
    pub fn new(packets: &[Packet]) -> Result<Seed, SeedError> {
        let first = packets.first().ok_or_else(|| SeedError("the seed capture is empty".into()))?;
        let link = first.link;
        let mut out = Vec::with_capacity(packets.len());
        let mut client: Option<[u8; 6]> = None;
        for p in packets {
            let (ip, tcp) = headers(link, &p.data)
                .ok_or_else(|| SeedError(format!("packet {} is not IPv4 TCP in a plain link header", p.number)))?;
            let data = p.data.to_vec();
            let src = endpoint(&data, ip, tcp, 12, 0);
            let client = *client.get_or_insert(src);
            let dst = endpoint(&data, ip, tcp, 16, 2);
            if src != client && dst != client {
                return Err(SeedError(format!("packet {} belongs to another connection", p.number)));
            }
            out.push(SeedPacket { offset: p.ts.nanos_since(first.ts), data, ip, tcp, from_client: src == client });
        }
        let duration = out.last().map_or(0, |p| p.offset);
        Ok(Seed { link, packets: out, duration, start: first.ts })
    }

    /// The link type of the packets made from this seed.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Time from the seed's first packet to its last.
    pub fn duration_nanos(&self) -> i64 {
        self.duration
    }

    /// Packets in one copy.
    pub fn packets(&self) -> usize {
        self.packets.len()
    }
}

/// (IP header offset, TCP header offset) of an IPv4 TCP packet.
fn headers(link: LinkType, data: &[u8]) -> Option<(usize, usize)> {
    let ip = match strip_link(link, data) {
        Inner::EtherType(t, at) => (t == etherparse::EtherType::IPV4).then_some(at)?,
        Inner::Ip(at) => at,
        _ => return None,
    };
    let version_ihl = *data.get(ip)?;
    let protocol = *data.get(ip + 9)?;
    if version_ihl >> 4 != 4 || protocol != 6 {
        return None;
    }
    let tcp = ip + usize::from(version_ihl & 0x0f) * 4;
    data.get(tcp + 20..)?;
    Some((ip, tcp))
}

/// Address bytes (at `ip + addr`) and port bytes (at `tcp + port`).
fn endpoint(data: &[u8], ip: usize, tcp: usize, addr: usize, port: usize) -> [u8; 6] {
    let mut e = [0u8; 6];
    for (i, b) in e.iter_mut().enumerate() {
        let at = if i < 4 { ip + addr + i } else { tcp + port + i - 4 };
        *b = data.get(at).copied().unwrap_or(0);
    }
    e
}

/// The client address of copy `n`: 127.x.y.z, distinct for 8 million copies.
fn client_ip(n: u64) -> [u8; 4] {
    [127, 1 + ((n >> 16) & 0x7f) as u8, (n >> 8) as u8, n as u8]
}

/// Rewrites one seed packet for copy `n`: client address, sequence and
/// acknowledgment numbers, checksums.
fn rewrite(p: &SeedPacket, n: u64) -> Vec<u8> {
    let mut d = p.data.clone();
    let (client_off, server_off) =
        ((n as u32).wrapping_mul(2_654_435_761), (n as u32).wrapping_mul(40_503).wrapping_add(n as u32));
    let (own, peer, addr_at) = if p.from_client { (client_off, server_off, 12) } else { (server_off, client_off, 16) };
    let ip = client_ip(n);
    if let Some(a) = d.get_mut(p.ip + addr_at..p.ip + addr_at + 4) {
        a.copy_from_slice(&ip);
    }
    add_u32(&mut d, p.tcp + 4, own);
    let ack_flag = d.get(p.tcp + 13).is_some_and(|f| f & 0x10 != 0);
    if ack_flag {
        add_u32(&mut d, p.tcp + 8, peer);
    }
    fix_checksums(&mut d, p.ip, p.tcp);
    d
}

fn add_u32(d: &mut [u8], at: usize, delta: u32) {
    if let Some(b) = d.get_mut(at..at + 4) {
        let Ok(word) = <[u8; 4]>::try_from(&*b) else { return };
        let v = u32::from_be_bytes(word).wrapping_add(delta);
        b.copy_from_slice(&v.to_be_bytes());
    }
}

/// Recomputes the IPv4 header checksum and the TCP checksum.
fn fix_checksums(d: &mut [u8], ip: usize, tcp: usize) {
    use crate::net::checksum::{ipv4_value, tcp_value};
    let total = match d.get(ip + 2..ip + 4) {
        Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
        _ => 0,
    };
    let end = (ip + total).min(d.len());
    if let Some(c) = d.get_mut(ip + 10..ip + 12) {
        c.fill(0);
    }
    let ip_sum = d.get(ip..tcp).map_or(0, ipv4_value);
    if let Some(c) = d.get_mut(ip + 10..ip + 12) {
        c.copy_from_slice(&ip_sum.to_be_bytes());
    }
    if let Some(c) = d.get_mut(tcp + 16..tcp + 18) {
        c.fill(0);
    }
    let addr = |at: usize| d.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(std::net::IpAddr::from);
    let (Some(src), Some(dst)) = (addr(ip + 12), addr(ip + 16)) else { return };
    let tcp_sum = d.get(tcp..end).map_or(0, |s| tcp_value(src, dst, s));
    if let Some(c) = d.get_mut(tcp + 16..tcp + 18) {
        c.copy_from_slice(&tcp_sum.to_be_bytes());
    }
}

/// Copies of a seed, `concurrency` at a time, as one time-ordered packet
/// sequence. Each copy starts when the one before it in its slot ends (plus
/// a small pause), so there are always `concurrency` connections open.
pub struct Replay<'a> {
    seed: &'a Seed,
    copies: u64,
    started: u64,
    /// How much slower than recorded each copy plays (1.0: as recorded).
    stretch: f64,
    /// (next packet's time, copy, index of its next packet, copy's start).
    heap: BinaryHeap<Reverse<(i64, u64, usize, i64)>>,
}

/// The pause between one copy's last packet and the next copy's SYN.
const PAUSE_NS: i64 = 100_000;

impl<'a> Replay<'a> {
    /// `copies` copies of `seed`, `concurrency` of them open at any time.
    pub fn new(seed: &'a Seed, copies: u64, concurrency: usize) -> Self {
        Self::stretched(seed, copies, concurrency, 1.0)
    }

    /// Like [`Replay::new`], each copy's packet times multiplied by
    /// `stretch` (above 1: a slower, more realistic call rate).
    pub fn stretched(seed: &'a Seed, copies: u64, concurrency: usize, stretch: f64) -> Self {
        let stretch = if stretch.is_finite() && stretch > 0.0 { stretch } else { 1.0 };
        let mut r = Replay { seed, copies, started: 0, stretch, heap: BinaryHeap::new() };
        let slots = concurrency.max(1) as i64;
        for k in 0..slots {
            // Staggered starts: the copies are in different phases of their calls.
            r.start_copy(r.scaled(k * seed.duration / slots));
        }
        r
    }

    fn scaled(&self, nanos: i64) -> i64 {
        (nanos as f64 * self.stretch) as i64
    }

    fn start_copy(&mut self, at: i64) {
        if self.started < self.copies && !self.seed.packets.is_empty() {
            self.heap.push(Reverse((at, self.started, 0, at)));
            self.started += 1;
        }
    }
}

impl Iterator for Replay<'_> {
    /// A packet's time and bytes.
    type Item = (Timestamp, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((at, copy, i, start)) = self.heap.pop()?;
        let p = self.seed.packets.get(i)?;
        let bytes = rewrite(p, copy);
        match self.seed.packets.get(i + 1) {
            Some(next) => self.heap.push(Reverse((start + self.scaled(next.offset), copy, i + 1, start))),
            None => self.start_copy(at + PAUSE_NS),
        }
        Some((self.seed.start.add_nanos(at), bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{decode, Decoded};
    use crate::synth::{Conversation, Side};
    use crate::time::Timestamp;
    use bytes::Bytes;

    fn seed() -> Seed {
        let mut c = Conversation::new(
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:50071".parse().unwrap(),
            Timestamp::from_parts(10, 0),
        );
        c.handshake().send(Side::Client, b"hello").send(Side::Server, b"world!").fin(Side::Client).fin(Side::Server);
        let link = LinkType(1);
        let packets: Vec<Packet> = c
            .packets
            .iter()
            .enumerate()
            .map(|(i, (ts, ip))| Packet {
                number: i as u64 + 1,
                ts: *ts,
                link,
                data: Bytes::from(crate::synth::with_link(link, ip)),
                orig_len: 0,
                interface: 0,
            })
            .collect();
        Seed::new(&packets).unwrap()
    }

    #[test]
    fn copies_have_their_own_clients_and_sequence_numbers_and_valid_checksums() {
        let s = seed();
        let out: Vec<_> = Replay::new(&s, 3, 2).collect();
        assert_eq!(out.len(), 3 * s.packets());
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "time-ordered");
        let mut clients = std::collections::BTreeSet::new();
        for (_, bytes) in &out {
            let Decoded::Tcp(seg) = decode(LinkType(1), bytes) else { panic!("not TCP") };
            clients.insert(if seg.dst.port() == 50071 { seg.src } else { seg.dst });
            // The decoder checks both the IPv4 header and the TCP checksum.
            assert_eq!(seg.checksum, crate::net::Checksum::Good);
        }
        assert_eq!(clients.len(), 3);
    }

    #[test]
    fn a_copy_is_the_seed_connection_with_shifted_numbers() {
        let s = seed();
        let copy: Vec<_> = Replay::new(&s, 1, 1).collect();
        let seqs = |bytes: &[u8]| match decode(LinkType(1), bytes) {
            Decoded::Tcp(seg) => (seg.seq, seg.ack, seg.flags, bytes[seg.payload].to_vec()),
            other => panic!("{other:?}"),
        };
        let original: Vec<_> = s.packets.iter().map(|p| seqs(&p.data)).collect();
        let replayed: Vec<_> = copy.iter().map(|(_, b)| seqs(b)).collect();
        for (o, r) in original.iter().zip(&replayed) {
            assert_eq!((o.2, &o.3), (r.2, &r.3), "flags and payload unchanged");
        }
        // Copy 0 keeps the numbers; the handshake's arithmetic holds in every copy.
        assert_eq!(original, replayed);
        let copy1 = std::net::IpAddr::from([127, 1, 0, 1]);
        let other: Vec<_> = Replay::new(&s, 2, 2)
            .filter(|(_, b)| matches!(decode(LinkType(1), b), Decoded::Tcp(seg) if seg.src.ip() == copy1 || seg.dst.ip() == copy1))
            .map(|(_, b)| seqs(&b))
            .collect();
        assert_eq!(other.len(), s.packets());
        assert_ne!(other[0].0, original[0].0, "copy 1 has its own initial sequence number");
        assert_eq!(other[1].1, other[0].0.wrapping_add(1), "SYN-ACK acknowledges SYN + 1");
        assert_eq!(other[2].1, other[1].0.wrapping_add(1), "ACK acknowledges SYN-ACK + 1");
    }
}
