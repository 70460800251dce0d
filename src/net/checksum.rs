//! TCP and IPv4 header checksums (RFC 1071), to tell a damaged segment
//! from one whose checksum was simply never filled in.
//!
//! Captures taken on the sending host, loopback above all, carry segments
//! the kernel handed to the NIC with checksum offload: the field holds only
//! the pseudo-header's sum, for the hardware to complete. Wireshark calls
//! those bad unless validation is off; grpcscope recognises the pattern and
//! reports it as offloaded, so a bad checksum means real damage.

use std::net::IpAddr;

/// What a segment's checksum says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// It matches the bytes.
    Good,
    /// It holds the pseudo-header sum only: offloaded by the sender, whose
    /// NIC would have completed it after the capture point.
    Offloaded,
    /// It matches neither: the segment was damaged (and is decoded anyway).
    Bad,
    /// It cannot be checked: the capture holds only part of the segment.
    Unverifiable,
}

/// The ones'-complement sum of `data` as 16-bit big-endian words, unfolded.
/// Four words at a time: the carries collect in the upper half of the u64.
fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_be_bytes(w);
        acc += (v >> 32) + (v & 0xffff_ffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        if let [hi, lo] = p {
            acc += u64::from(u16::from_be_bytes([*hi, *lo]));
        }
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a sum to 16 bits with end-around carry.
fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The TCP pseudo-header's sum (RFC 9293 §3.1): addresses, protocol, length.
fn pseudo_header(src: IpAddr, dst: IpAddr, tcp_len: usize) -> u64 {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(&s.octets()) + sum(&d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum(&s.octets()) + sum(&d.octets()),
        // Mixed families cannot come from one IP header.
        _ => 0,
    };
    addrs + 6 + tcp_len as u64
}

/// Checks a TCP segment: `header` with its checksum field at bytes 16-17,
/// `payload` its captured payload; `complete` when the capture holds the
/// whole segment.
pub fn tcp(src: IpAddr, dst: IpAddr, header: &[u8], payload: &[u8], complete: bool) -> Checksum {
    let Some(&[hi, lo]) = header.get(16..18) else {
        return Checksum::Unverifiable;
    };
    let field = u16::from_be_bytes([hi, lo]);
    if !complete {
        return Checksum::Unverifiable;
    }
    let pseudo = pseudo_header(src, dst, header.len() + payload.len());
    // The offload pattern first: it needs only the pseudo-header, so the
    // payload of a loopback capture is never summed. (A real checksum that
    // happens to equal that pattern is then called offloaded: harmless,
    // neither is counted.)
    let partial = fold(pseudo);
    if field == partial || field == !partial {
        return Checksum::Offloaded;
    }
    // A header of even length keeps the payload's words aligned.
    let whole =
        if header.len().is_multiple_of(2) { sum(header) + sum(payload) } else { sum(&[header, payload].concat()) };
    if fold(pseudo + whole) == 0xffff {
        Checksum::Good
    } else {
        Checksum::Bad
    }
}

/// The value for the checksum field of a TCP segment (header and payload,
/// with that field zeroed) between `src` and `dst`.
pub fn tcp_value(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    !fold(pseudo_header(src, dst, segment.len()) + sum(segment))
}

/// The value for the checksum field of an IPv4 header (with that field zeroed).
pub fn ipv4_value(header: &[u8]) -> u16 {
    !fold(sum(header))
}

/// Checks an IPv4 header (its checksum field included); a zero field is
/// what offload leaves.
pub fn ipv4_header(header: &[u8]) -> Checksum {
    match header.get(10..12) {
        None => Checksum::Unverifiable,
        Some([0, 0]) => Checksum::Offloaded,
        Some(_) if fold(sum(header)) == 0xffff => Checksum::Good,
        Some(_) => Checksum::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// RFC 1071 §3's worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn the_rfc_1071_example_sums_to_ddf2() {
        assert_eq!(fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), 0xddf2);
    }

    #[test]
    fn an_odd_byte_is_padded_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    fn segment(check: u16) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&40000u16.to_be_bytes());
        h[2..4].copy_from_slice(&50051u16.to_be_bytes());
        h[12] = 5 << 4;
        h[16..18].copy_from_slice(&check.to_be_bytes());
        h
    }

    #[test]
    fn good_offloaded_and_bad_segments_are_told_apart() {
        let (a, b) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let payload = b"hello, world!";
        let partial = fold(pseudo_header(a, b, 20 + payload.len()));
        let good = tcp_value(a, b, &[segment(0), payload.to_vec()].concat());
        assert_eq!(tcp(a, b, &segment(good), payload, true), Checksum::Good);
        assert_eq!(tcp(a, b, &segment(partial), payload, true), Checksum::Offloaded);
        assert_eq!(tcp(a, b, &segment(good ^ 0x0100), payload, true), Checksum::Bad);
        assert_eq!(tcp(a, b, &segment(good ^ 0x0100), payload, false), Checksum::Unverifiable);
        // One flipped payload bit is caught.
        assert_eq!(tcp(a, b, &segment(good), b"hello, world?", true), Checksum::Bad);
    }

    #[test]
    fn an_ipv4_header_checksum_is_checked() {
        // A real header (RFC 1071 style example from a capture): 45 00 00 73 ...
        let mut h = vec![0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7];
        assert_eq!(ipv4_header(&h), Checksum::Offloaded);
        let c = ipv4_value(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(c, 0xb861);
        assert_eq!(ipv4_header(&h), Checksum::Good);
        h[15] ^= 1;
        assert_eq!(ipv4_header(&h), Checksum::Bad);
    }
}
