//! Classic libpcap file format: a 24-byte global header, then records of a
//! 16-byte header and the packet bytes. Pure functions over byte slices.

use super::{read_u32, LinkType, Step, MAX_RECORD_LEN};
use crate::time::Timestamp;

/// Magic of a microsecond-resolution file, as read in the file's byte order.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic of a nanosecond-resolution file.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;

/// The global header of a pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapHeader {
    /// Multi-byte fields are big-endian.
    pub big_endian: bool,
    /// Timestamps' fractional part counts nanoseconds rather than microseconds.
    pub nanos: bool,
    /// Largest number of bytes the capture kept of each packet.
    pub snaplen: u32,
    /// Link-layer header type of every packet.
    pub link: LinkType,
}

/// The 16-byte header in front of each packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Capture time.
    pub ts: Timestamp,
    /// Bytes stored in the file.
    pub incl_len: u32,
    /// Bytes on the wire.
    pub orig_len: u32,
}

/// Size of the global header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Size of a record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// Whether `magic` (the first four bytes) starts a pcap file.
pub fn is_pcap_magic(magic: [u8; 4]) -> bool {
    let be = u32::from_be_bytes(magic);
    let le = u32::from_le_bytes(magic);
    [be, le].iter().any(|m| *m == MAGIC_MICROS || *m == MAGIC_NANOS)
}

/// Parses the global header at the start of `buf`.
pub fn parse_global_header(buf: &[u8]) -> Step<PcapHeader> {
    if buf.len() < GLOBAL_HEADER_LEN {
        return Step::Need(GLOBAL_HEADER_LEN);
    }
    let (big_endian, nanos) = match read_u32(buf, 0, true) {
        Some(MAGIC_MICROS) => (true, false),
        Some(MAGIC_NANOS) => (true, true),
        _ => match read_u32(buf, 0, false) {
            Some(MAGIC_MICROS) => (false, false),
            Some(MAGIC_NANOS) => (false, true),
            _ => return Step::Corrupt("not a pcap magic number".into()),
        },
    };
    let snaplen = read_u32(buf, 16, big_endian).unwrap_or(0);
    // The upper 16 bits may carry FCS information; the link type is the rest.
    let link = LinkType(read_u32(buf, 20, big_endian).unwrap_or(0) & 0xffff);
    Step::Done(PcapHeader { big_endian, nanos, snaplen, link }, GLOBAL_HEADER_LEN)
}

/// Parses the record header at the start of `buf`; `Done` reports the
/// header and the whole record's length (header plus packet bytes).
pub fn parse_record_header(buf: &[u8], file: &PcapHeader) -> Step<RecordHeader> {
    if buf.len() < RECORD_HEADER_LEN {
        return Step::Need(RECORD_HEADER_LEN);
    }
    let be = file.big_endian;
    let (Some(secs), Some(frac), Some(incl_len), Some(orig_len)) =
        (read_u32(buf, 0, be), read_u32(buf, 4, be), read_u32(buf, 8, be), read_u32(buf, 12, be))
    else {
        return Step::Need(RECORD_HEADER_LEN);
    };
    if incl_len > MAX_RECORD_LEN {
        return Step::Corrupt(format!(
            "a record claims {incl_len} captured bytes (more than the {MAX_RECORD_LEN} any real packet has); the file is damaged from here"
        ));
    }
    let nanos = if file.nanos { i64::from(frac) } else { i64::from(frac) * 1_000 };
    let header = RecordHeader { ts: Timestamp::from_parts(i64::from(secs), nanos), incl_len, orig_len };
    let total = RECORD_HEADER_LEN + incl_len as usize;
    Step::Done(header, total)
}

/// Encodes a pcap global header (little-endian, microseconds or nanoseconds).
pub fn encode_global_header(link: LinkType, snaplen: u32, nanos: bool) -> [u8; GLOBAL_HEADER_LEN] {
    let mut out = [0u8; GLOBAL_HEADER_LEN];
    let magic = if nanos { MAGIC_NANOS } else { MAGIC_MICROS };
    let fields: [(usize, &[u8]); 5] = [
        (0, &magic.to_le_bytes()),
        (4, &2u16.to_le_bytes()),
        (6, &4u16.to_le_bytes()),
        (16, &snaplen.to_le_bytes()),
        (20, &link.0.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        if let Some(dst) = out.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    out
}

/// Encodes a record header for a packet captured at `ts`.
pub fn encode_record_header(ts: Timestamp, incl_len: u32, orig_len: u32, nanos: bool) -> [u8; RECORD_HEADER_LEN] {
    let frac = if nanos { ts.subsec_nanos() } else { ts.subsec_nanos() / 1_000 };
    let mut out = [0u8; RECORD_HEADER_LEN];
    let words = [ts.secs() as u32, frac as u32, incl_len, orig_len];
    for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_headers_in_both_resolutions() {
        for nanos in [false, true] {
            let g = encode_global_header(LinkType::ETHERNET, 65535, nanos);
            let Step::Done(h, 24) = parse_global_header(&g) else { panic!("global header") };
            assert_eq!(h, PcapHeader { big_endian: false, nanos, snaplen: 65535, link: LinkType::ETHERNET });
            let ts = Timestamp::from_parts(1_700_000_000, 123_456_000);
            let r = encode_record_header(ts, 60, 74, nanos);
            assert_eq!(parse_record_header(&r, &h), Step::Done(RecordHeader { ts, incl_len: 60, orig_len: 74 }, 76));
        }
    }

    #[test]
    fn big_endian_files_are_read() {
        let mut g = [0u8; 24];
        g[..4].copy_from_slice(&MAGIC_NANOS.to_be_bytes());
        g[16..20].copy_from_slice(&262_144u32.to_be_bytes());
        g[20..24].copy_from_slice(&113u32.to_be_bytes());
        let Step::Done(h, _) = parse_global_header(&g) else { panic!("header") };
        assert!(h.big_endian && h.nanos);
        assert_eq!(h.link, LinkType::LINUX_SLL);
        let mut r = [0u8; 16];
        r[..4].copy_from_slice(&5u32.to_be_bytes());
        r[4..8].copy_from_slice(&7u32.to_be_bytes());
        r[8..12].copy_from_slice(&3u32.to_be_bytes());
        r[12..16].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(
            parse_record_header(&r, &h),
            Step::Done(RecordHeader { ts: Timestamp(5_000_000_007), incl_len: 3, orig_len: 3 }, 19)
        );
    }

    #[test]
    fn absurd_lengths_are_corrupt_and_short_buffers_ask_for_more() {
        let h = PcapHeader { big_endian: false, nanos: false, snaplen: 65535, link: LinkType::ETHERNET };
        let r = encode_record_header(Timestamp(0), u32::MAX, 10, false);
        assert!(matches!(parse_record_header(&r, &h), Step::Corrupt(_)));
        assert_eq!(parse_record_header(&r[..5], &h), Step::Need(16));
        assert_eq!(parse_global_header(b"abc"), Step::Need(24));
        assert!(matches!(parse_global_header(&[7u8; 24]), Step::Corrupt(_)));
    }
}
