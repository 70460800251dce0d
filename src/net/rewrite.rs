//! A captured TCP packet's header, read in place, and its sequence and
//! acknowledgment numbers moved (checksums recomputed): what an extract
//! needs to close the holes its dropped packets would leave, so that the
//! extract reads as one unbroken stream in grpcscope and in tshark.

use super::link::{strip_link, Inner};
use crate::capture::LinkType;
use std::net::{IpAddr, SocketAddr};

/// Where a TCP packet's headers are, and what they say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpView {
    /// IP header offset.
    pub ip: usize,
    /// TCP header offset.
    pub tcp: usize,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags byte.
    pub flags: u8,
    /// TCP payload bytes (as the IP length says; the capture may hold fewer).
    pub payload_len: u32,
    /// The segment's end in the IP packet (as its length field says).
    end: usize,
}

/// The ACK flag.
const ACK: u8 = 0x10;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at + 2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes)
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes)
}

/// The TCP view of an IPv4 or IPv6 packet of link type `link` (IPv6
/// extension headers are not walked: a packet with them is `None`).
pub fn tcp_view(link: LinkType, data: &[u8]) -> Option<TcpView> {
    let ip = match strip_link(link, data) {
        Inner::EtherType(_, at) | Inner::Ip(at) => at,
        _ => return None,
    };
    let version = data.get(ip)? >> 4;
    let (tcp, src_ip, dst_ip, end): (usize, IpAddr, IpAddr, usize) = match version {
        4 => {
            if *data.get(ip + 9)? != 6 {
                return None;
            }
            let ihl = usize::from(data.get(ip)? & 0x0f) * 4;
            let addr = |at: usize| data.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(IpAddr::from);
            (ip + ihl, addr(ip + 12)?, addr(ip + 16)?, ip + usize::from(u16_at(data, ip + 2)?))
        }
        6 => {
            if *data.get(ip + 6)? != 6 {
                return None;
            }
            let addr = |at: usize| data.get(at..at + 16).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(IpAddr::from);
            (ip + 40, addr(ip + 8)?, addr(ip + 24)?, ip + 40 + usize::from(u16_at(data, ip + 4)?))
        }
        _ => return None,
    };
    let offset = usize::from(data.get(tcp + 12)? >> 4) * 4;
    let payload_len = end.checked_sub(tcp + offset)? as u32;
    Some(TcpView {
        ip,
        tcp,
        src: SocketAddr::new(src_ip, u16_at(data, tcp)?),
        dst: SocketAddr::new(dst_ip, u16_at(data, tcp + 2)?),
        seq: u32_at(data, tcp + 4)?,
        ack: u32_at(data, tcp + 8)?,
        flags: *data.get(tcp + 13)?,
        payload_len,
        end,
    })
}

/// `data` with its sequence number lowered by `seq_back` and, when it
/// carries an ACK, its acknowledgment number by `ack_back` (both modulo
/// 2^32), the TCP checksum recomputed. A packet the capture cut short
/// keeps its old checksum: it cannot be computed.
pub fn shift_back(data: &[u8], v: &TcpView, seq_back: u32, ack_back: u32) -> Vec<u8> {
    let mut d = data.to_vec();
    let mut put = |at: usize, value: u32| {
        if let Some(b) = d.get_mut(at..at + 4) {
            b.copy_from_slice(&value.to_be_bytes());
        }
    };
    put(v.tcp + 4, v.seq.wrapping_sub(seq_back));
    if v.flags & ACK != 0 {
        put(v.tcp + 8, v.ack.wrapping_sub(ack_back));
    }
    if v.end <= d.len() {
        if let Some(c) = d.get_mut(v.tcp + 16..v.tcp + 18) {
            c.fill(0);
        }
        let sum = d.get(v.tcp..v.end).map_or(0, |s| super::checksum::tcp_value(v.src.ip(), v.dst.ip(), s));
        if let Some(c) = d.get_mut(v.tcp + 16..v.tcp + 18) {
            c.copy_from_slice(&sum.to_be_bytes());
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::checksum::{tcp, Checksum};

    /// An IPv4 (raw IP link) TCP packet with a 4-byte payload.
    fn packet(seq: u32, ack: u32) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        p.extend_from_slice(&1234u16.to_be_bytes());
        p.extend_from_slice(&50051u16.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(b"grpc");
        p
    }

    #[test]
    fn numbers_move_back_and_the_checksum_is_valid_again() {
        let p = packet(1000, 5);
        let v = tcp_view(LinkType(101), &p).unwrap();
        assert_eq!((v.seq, v.ack, v.payload_len, v.dst.port()), (1000, 5, 4, 50051));
        let q = shift_back(&p, &v, 100, 10);
        let w = tcp_view(LinkType(101), &q).unwrap();
        assert_eq!((w.seq, w.ack), (900, 5u32.wrapping_sub(10)));
        let (header, payload) = q[20..].split_at(20);
        assert_eq!(tcp(w.src.ip(), w.dst.ip(), header, payload, true), Checksum::Good);
    }
}
