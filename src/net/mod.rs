//! From captured bytes to TCP segments: link layers (Ethernet with any
//! number of VLAN tags, Linux cooked SLL/SLL2, BSD loopback NULL/LOOP, raw
//! IP), IPv4/IPv6 with extension headers (via `etherparse`), and the TCP
//! header. Stateless but for IPv4 fragment reassembly ([`defrag`]).

pub mod checksum;
pub mod defrag;
pub mod dns;
pub mod link;
pub mod rewrite;

use crate::capture::LinkType;
use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

pub use checksum::Checksum;
pub use link::strip_link;

/// The TCP control bits grpcscope cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// SYN
    pub syn: bool,
    /// ACK
    pub ack: bool,
    /// FIN
    pub fin: bool,
    /// RST
    pub rst: bool,
    /// PSH
    pub psh: bool,
}

impl TcpFlags {
    /// tcpdump-style flag string: `S`, `S.`, `F.`, `R`, `P.`, `.`.
    pub fn tcpdump(&self) -> String {
        let mut s = String::new();
        for (on, c) in [(self.syn, 'S'), (self.fin, 'F'), (self.rst, 'R'), (self.psh, 'P'), (self.ack, '.')] {
            if on {
                s.push(c);
            }
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

/// A TCP segment found in a packet. Offsets refer to the packet's bytes, so
/// the payload can be sliced out of the packet buffer without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Advertised receive window (unscaled).
    pub window: u16,
    /// The window scale option (RFC 7323 §2), on a SYN that carries one.
    pub window_scale: Option<u8>,
    /// The captured payload bytes within the packet.
    pub payload: Range<usize>,
    /// Payload length according to the IP header; larger than the captured
    /// payload when a snaplen cut the packet.
    pub wire_payload_len: u32,
    /// What the TCP checksum (and for IPv4 the header checksum) says. A bad
    /// one is counted and the segment decoded anyway.
    pub checksum: Checksum,
}

impl Segment {
    /// Payload bytes that were on the wire but not captured.
    pub fn missing_payload(&self) -> u32 {
        self.wire_payload_len.saturating_sub(self.payload.len() as u32)
    }
}

/// Why a packet carries no TCP segment we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// UDP datagram.
    Udp,
    /// ICMP or ICMPv6.
    Icmp,
    /// ARP.
    Arp,
    /// Another IP protocol.
    OtherIp,
    /// A non-IP link-layer payload (LLDP, STP, ...).
    NotIp,
    /// An IPv6 fragment (not reassembled).
    Fragment,
    /// Headers were cut short by the snaplen or the packet is malformed.
    Malformed,
    /// A link type we do not decode.
    UnsupportedLink,
    /// No bytes at all.
    Empty,
}

impl Skip {
    /// A short label for summaries.
    pub fn label(self) -> &'static str {
        match self {
            Skip::Udp => "UDP",
            Skip::Icmp => "ICMP",
            Skip::Arp => "ARP",
            Skip::OtherIp => "other IP protocols",
            Skip::NotIp => "non-IP",
            Skip::Fragment => "IPv6 fragments (not reassembled)",
            Skip::Malformed => "malformed or cut headers",
            Skip::UnsupportedLink => "unsupported link type",
            Skip::Empty => "empty packets",
        }
    }
}

/// What the network layers made of one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A TCP segment.
    Tcp(Segment),
    /// An IPv4 fragment: the IP packet's bytes in the captured data, for
    /// the [`defrag::Defragmenter`].
    Ipv4Fragment(Range<usize>),
    /// A UDP datagram from port 53: a DNS response's bytes in the captured
    /// data, read for the names it gives addresses ([`dns::answers`]).
    DnsResponse(Range<usize>),
    /// Anything else, counted and ignored.
    Skipped(Skip),
}

/// Decodes a packet of link type `link` down to its TCP segment.
pub fn decode(link: LinkType, data: &[u8]) -> Decoded {
    if data.is_empty() {
        return Decoded::Skipped(Skip::Empty);
    }
    let parsed = match strip_link(link, data) {
        link::Inner::EtherType(t, at) => data.get(at..).map(|rest| LaxSlicedPacket::from_ether_type(t, rest)),
        link::Inner::Ip(at) => data.get(at..).and_then(|rest| LaxSlicedPacket::from_ip(rest).ok()),
        link::Inner::NotIp => return Decoded::Skipped(Skip::NotIp),
        link::Inner::Unsupported => return Decoded::Skipped(Skip::UnsupportedLink),
        link::Inner::Truncated => return Decoded::Skipped(Skip::Malformed),
    };
    match parsed {
        Some(p) => segment_of(&p, data),
        None => Decoded::Skipped(Skip::Malformed),
    }
}

fn segment_of(p: &LaxSlicedPacket<'_>, data: &[u8]) -> Decoded {
    let mut ip_checksum = Checksum::Good;
    let (src_ip, dst_ip, declared_ip_payload, fragmented) = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) if v4.payload().fragmented => {
            let h = v4.header();
            let start = (h.slice().as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
            let end = (start + usize::from(h.total_len())).min(data.len());
            return Decoded::Ipv4Fragment(start..end.max(start));
        }
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            ip_checksum = checksum::ipv4_header(h.slice());
            let total = usize::from(h.total_len());
            let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
            let hdr = usize::from(h.ihl()) * 4 + auth;
            // A zero total length comes from segmentation offload; trust the capture then.
            let declared = if total == 0 { None } else { Some(total.saturating_sub(hdr)) };
            (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), declared, v4.payload().fragmented)
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let len = usize::from(h.payload_length());
            let declared = if len == 0 { None } else { Some(len.saturating_sub(v6.extensions().slice().len())) };
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), declared, v6.payload().fragmented)
        }
        Some(LaxNetSlice::Arp(_)) => return Decoded::Skipped(Skip::Arp),
        None if p.stop_err.is_some() => return Decoded::Skipped(Skip::Malformed),
        None => return Decoded::Skipped(Skip::NotIp),
    };
    if fragmented {
        return Decoded::Skipped(Skip::Fragment);
    }
    let tcp = match &p.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        Some(TransportSlice::Udp(udp)) if udp.source_port() == 53 => {
            let payload = udp.payload();
            let start = (payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
            return Decoded::DnsResponse(start..start + payload.len());
        }
        Some(TransportSlice::Udp(_)) => return Decoded::Skipped(Skip::Udp),
        Some(TransportSlice::Icmpv4(_)) | Some(TransportSlice::Icmpv6(_)) => return Decoded::Skipped(Skip::Icmp),
        _ => {
            let number = p.net.as_ref().and_then(|n| n.ip_payload_ref()).map(|ip| ip.ip_number);
            return match number {
                Some(etherparse::IpNumber::TCP) | Some(etherparse::IpNumber::UDP) => Decoded::Skipped(Skip::Malformed),
                Some(etherparse::IpNumber::ICMP) | Some(etherparse::IpNumber::IPV6_ICMP) => {
                    Decoded::Skipped(Skip::Icmp)
                }
                _ => Decoded::Skipped(Skip::OtherIp),
            };
        }
    };
    let payload = tcp.payload();
    let start = (payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
    let header_len = tcp.header_slice().len();
    let captured = payload.len();
    let wire = declared_ip_payload.map_or(captured, |d| d.saturating_sub(header_len).max(captured));
    // Without a declared length (segmentation offload) the whole segment is unknown.
    let complete = declared_ip_payload.is_some() && wire == captured;
    let checksum = match checksum::tcp(src_ip, dst_ip, tcp.header_slice(), payload, complete) {
        Checksum::Good | Checksum::Offloaded if ip_checksum == Checksum::Bad => Checksum::Bad,
        c => c,
    };
    Decoded::Tcp(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst(), psh: tcp.psh() },
        window: tcp.window_size(),
        window_scale: if tcp.syn() { window_scale(tcp) } else { None },
        payload: start..start + captured,
        wire_payload_len: u32::try_from(wire).unwrap_or(u32::MAX),
        checksum,
    })
}

/// The window scale option of a SYN, capped at 14 as RFC 7323 §2.3 says.
fn window_scale(tcp: &etherparse::TcpSlice<'_>) -> Option<u8> {
    tcp.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::WindowScale(s)) => Some(s.min(14)),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
