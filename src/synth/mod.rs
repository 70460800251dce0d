//! Building synthetic packets and captures: for unit tests, fuzz seeds and
//! the benchmark capture generator. Real-traffic fixtures come from the
//! `fixturegen` example instead; this module only makes the byte layouts
//! that a test needs to control exactly (a lost segment, a VLAN tag, a
//! cooked header).

pub mod adversarial;
pub mod doctor;
pub mod h2;
pub mod hostile;
pub mod replay;

use crate::capture::pcap_format::{encode_global_header, encode_record_header};
use crate::capture::LinkType;
use crate::net::TcpFlags;
use crate::time::Timestamp;
use etherparse::{PacketBuilder, TcpHeader};
use std::net::{IpAddr, SocketAddr};

/// An IPv4 or IPv6 packet carrying one TCP segment.
pub fn ip_tcp(src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    let mut tcp = TcpHeader::new(src.port(), dst.port(), seq, 65_535);
    tcp.syn = flags.syn;
    tcp.fin = flags.fin;
    tcp.rst = flags.rst;
    tcp.psh = flags.psh;
    tcp.ack = flags.ack;
    tcp.acknowledgment_number = ack;
    let builder = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        // Mixed families cannot share a packet: keep the source's family.
        (IpAddr::V4(s), IpAddr::V6(_)) => PacketBuilder::ipv4(s.octets(), [127, 0, 0, 1], 64),
        (IpAddr::V6(s), IpAddr::V4(_)) => PacketBuilder::ipv6(s.octets(), [0; 16], 64),
    };
    let mut out = Vec::with_capacity(80 + payload.len());
    // Writing to a Vec cannot fail.
    let _ = builder.tcp_header(tcp).write(&mut out, payload);
    out
}

/// Wraps an IP packet in a link-layer header of type `link`.
pub fn with_link(link: LinkType, ip: &[u8]) -> Vec<u8> {
    let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let mut out = Vec::with_capacity(ip.len() + 20);
    match link.0 {
        1 => {
            out.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
            out.extend_from_slice(&ethertype);
        }
        0 => out.extend_from_slice(&(if v6 { 30u32 } else { 2 }).to_le_bytes()),
        108 => out.extend_from_slice(&(if v6 { 24u32 } else { 2 }).to_be_bytes()),
        113 => {
            out.extend_from_slice(&[0, 0, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&ethertype);
        }
        276 => {
            out.extend_from_slice(&ethertype);
            out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        _ => {}
    }
    out.extend_from_slice(ip);
    out
}

/// Wraps an IP packet in Ethernet with the given 802.1Q tags (outermost
/// first; two tags make QinQ, the outer one with EtherType 0x88a8).
pub fn with_vlans(vlans: &[u16], ip: &[u8]) -> Vec<u8> {
    let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
    let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    for (i, id) in vlans.iter().enumerate() {
        let tpid: [u8; 2] = if i == 0 && vlans.len() > 1 { [0x88, 0xa8] } else { [0x81, 0x00] };
        out.extend_from_slice(&tpid);
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    out.extend_from_slice(ip);
    out
}

/// An IPv4 packet cut into fragments of at most `size` payload bytes (a
/// multiple of 8), in order (RFC 791 §3.2).
pub fn ipv4_fragments(ip: &[u8], size: usize) -> Vec<Vec<u8>> {
    let header_len = ip.first().map_or(20, |b| usize::from(b & 0x0f) * 4);
    let (Some(header), Some(payload)) = (ip.get(..header_len), ip.get(header_len..)) else { return vec![ip.to_vec()] };
    let size = (size / 8).max(1) * 8;
    let count = payload.len().div_ceil(size);
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let mut h = header.to_vec();
            let more = if i + 1 < count { 0x2000 } else { 0 };
            let fo = ((i * size / 8) as u16) | more;
            let mut put = |at: usize, v: [u8; 2]| {
                if let Some(f) = h.get_mut(at..at + 2) {
                    f.copy_from_slice(&v);
                }
            };
            put(2, ((header_len + chunk.len()) as u16).to_be_bytes());
            put(6, fo.to_be_bytes());
            put(10, [0, 0]);
            let sum = crate::net::checksum::ipv4_value(&h);
            if let Some(f) = h.get_mut(10..12) {
                f.copy_from_slice(&sum.to_be_bytes());
            }
            h.extend_from_slice(chunk);
            h
        })
        .collect()
}

/// A pcap file under construction.
pub struct PcapBuilder {
    link: LinkType,
    bytes: Vec<u8>,
}

impl PcapBuilder {
    /// An empty capture of link type `link`.
    pub fn new(link: LinkType) -> Self {
        PcapBuilder { link, bytes: encode_global_header(link, 262_144, true).to_vec() }
    }

    /// Appends an IP packet, wrapped in this capture's link header.
    pub fn push_ip(&mut self, ts: Timestamp, ip: &[u8]) {
        let framed = with_link(self.link, ip);
        self.push_raw(ts, &framed, framed.len() as u32);
    }

    /// Appends bytes as they are, claiming `orig_len` bytes on the wire.
    pub fn push_raw(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) {
        self.bytes.extend(encode_record_header(ts, data.len() as u32, orig_len, true));
        self.bytes.extend_from_slice(data);
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// One TCP connection scripted step by step, producing IP packets with
/// consistent sequence and acknowledgment numbers.
pub struct Conversation {
    /// The side that opens the connection.
    pub client: SocketAddr,
    /// The side that accepts it.
    pub server: SocketAddr,
    client_next: u32,
    server_next: u32,
    now: Timestamp,
    step: i64,
    /// Every packet made so far, in order.
    pub packets: Vec<(Timestamp, Vec<u8>)>,
}

/// Who sends a scripted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

impl Conversation {
    /// A conversation starting at `start`, 100 microseconds between packets.
    pub fn new(client: SocketAddr, server: SocketAddr, start: Timestamp) -> Self {
        Conversation {
            client,
            server,
            client_next: 1000,
            server_next: 5000,
            now: start,
            step: 100_000,
            packets: Vec::new(),
        }
    }

    /// Sets the client's and server's initial sequence numbers (before the handshake).
    pub fn with_isns(mut self, client: u32, server: u32) -> Self {
        self.client_next = client;
        self.server_next = server;
        self
    }

    /// The SYN, SYN-ACK, ACK exchange.
    pub fn handshake(&mut self) -> &mut Self {
        let (c, s) = (self.client_next, self.server_next);
        self.emit(Side::Client, c, 0, TcpFlags { syn: true, ..Default::default() }, &[]);
        self.emit(Side::Server, s, c.wrapping_add(1), TcpFlags { syn: true, ack: true, ..Default::default() }, &[]);
        self.client_next = c.wrapping_add(1);
        self.server_next = s.wrapping_add(1);
        self.emit(Side::Client, self.client_next, self.server_next, ack(), &[]);
        self
    }

    /// `side` sends `payload` in one segment.
    pub fn send(&mut self, side: Side, payload: &[u8]) -> &mut Self {
        let seq = self.next_seq(side);
        self.emit(side, seq, self.peer_next(side), TcpFlags { psh: true, ack: true, ..Default::default() }, payload);
        self.advance(side, payload.len() as u32);
        self
    }

    /// Advances `side`'s sequence number by `len` as if a segment was sent
    /// but never captured.
    pub fn lose(&mut self, side: Side, len: u32) -> &mut Self {
        self.advance(side, len);
        self
    }

    /// A segment with explicit sequence number (retransmission, overlap, reordering).
    pub fn send_at(&mut self, side: Side, seq: u32, payload: &[u8]) -> &mut Self {
        self.emit(side, seq, self.peer_next(side), TcpFlags { psh: true, ack: true, ..Default::default() }, payload);
        self
    }

    /// A pure ACK from `side`.
    pub fn ack(&mut self, side: Side) -> &mut Self {
        let seq = self.next_seq(side);
        self.emit(side, seq, self.peer_next(side), ack(), &[]);
        self
    }

    /// `side` sends FIN.
    pub fn fin(&mut self, side: Side) -> &mut Self {
        let seq = self.next_seq(side);
        self.emit(side, seq, self.peer_next(side), TcpFlags { fin: true, ack: true, ..Default::default() }, &[]);
        self.advance(side, 1);
        self
    }

    /// `side` sends RST.
    pub fn rst(&mut self, side: Side) -> &mut Self {
        let seq = self.next_seq(side);
        self.emit(side, seq, 0, TcpFlags { rst: true, ..Default::default() }, &[]);
        self
    }

    /// `side` sends RST with sequence number `seq` (a forged or stale one).
    pub fn rst_at(&mut self, side: Side, seq: u32) -> &mut Self {
        self.emit(side, seq, 0, TcpFlags { rst: true, ..Default::default() }, &[]);
        self
    }

    /// Lets `nanos` pass before the next packet.
    pub fn wait(&mut self, nanos: i64) -> &mut Self {
        self.now = self.now.add_nanos(nanos);
        self
    }

    /// The sequence number `side` will use next.
    pub fn next_seq(&self, side: Side) -> u32 {
        match side {
            Side::Client => self.client_next,
            Side::Server => self.server_next,
        }
    }

    fn peer_next(&self, side: Side) -> u32 {
        match side {
            Side::Client => self.server_next,
            Side::Server => self.client_next,
        }
    }

    fn advance(&mut self, side: Side, by: u32) {
        match side {
            Side::Client => self.client_next = self.client_next.wrapping_add(by),
            Side::Server => self.server_next = self.server_next.wrapping_add(by),
        }
    }

    fn emit(&mut self, side: Side, seq: u32, ackno: u32, flags: TcpFlags, payload: &[u8]) {
        let (src, dst) = match side {
            Side::Client => (self.client, self.server),
            Side::Server => (self.server, self.client),
        };
        self.packets.push((self.now, ip_tcp(src, dst, seq, ackno, flags, payload)));
        self.now = self.now.add_nanos(self.step);
    }

    /// The conversation as a pcap file of link type `link`.
    pub fn to_pcap(&self, link: LinkType) -> Vec<u8> {
        let mut b = PcapBuilder::new(link);
        for (ts, ip) in &self.packets {
            b.push_ip(*ts, ip);
        }
        b.finish()
    }
}

fn ack() -> TcpFlags {
    TcpFlags { ack: true, ..Default::default() }
}

/// Each connection's reassembled bytes, per direction (index 0: client to
/// server), from captured packets: what the HTTP/2 layer would be fed. For
/// benchmarks and fuzz seeds that drive one layer alone.
pub fn byte_streams(
    packets: &[crate::capture::Packet],
) -> std::collections::BTreeMap<(crate::tcp::ConnId, usize), Vec<u8>> {
    use crate::tcp::{FlowTable, StreamEvent, TcpConfig};
    let mut table = FlowTable::new(TcpConfig::default());
    let mut events = Vec::new();
    for p in packets {
        if let crate::net::Decoded::Tcp(seg) = crate::net::decode(p.link, &p.data) {
            table.segment(p.ts, p.number, &seg, p.data.slice(seg.payload.clone()), &mut events);
        }
    }
    table.finish(&mut events);
    let mut out: std::collections::BTreeMap<_, Vec<u8>> = std::collections::BTreeMap::new();
    for ev in events {
        if let StreamEvent::Data { conn, dir, data, .. } = ev {
            out.entry((conn, dir.index())).or_default().extend_from_slice(&data);
        }
    }
    out
}
