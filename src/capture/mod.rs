//! Where packets come from: capture files (pcap, pcapng, compressed or not,
//! from a path or standard input) and live interfaces.
//!
//! The file formats are parsed by our own pure record parsers
//! ([`pcap_format`], [`pcapng`]) rather than by libpcap, for three reasons:
//! libpcap refuses pcapng files whose interfaces have different link types
//! (common with `-i any` on some systems), it cannot read compressed files,
//! and a parser over plain byte slices can be fuzzed and can say exactly
//! where a damaged file stops making sense. Live capture uses libpcap
//! through the `pcap` crate ([`live`]).
//!
//! Everything here yields [`Packet`]s whose `data` is a [`bytes::Bytes`]
//! slice of a large read buffer: no per-packet copy.

pub mod file;
pub mod keylog_follow;
pub mod live;
pub mod pcap_format;
pub mod pcapng;
pub mod writer;
pub mod zone;

use crate::time::Timestamp;
use bytes::Bytes;
use std::fmt;

pub use file::{CaptureError, FileCapture};

/// Where the key logs a capture carries (pcapng Decryption Secrets Blocks
/// of type TLS) are handed on. The capture layer only finds them; the TLS
/// record layer, above it, implements this to keep them.
pub trait SecretsSink: Send + Sync {
    /// Takes NSS key log text; returns the secrets kept.
    fn add_key_log(&self, text: &str) -> usize;
}

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II, possibly with 802.1Q / 802.1ad VLAN tags.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IPv4 or IPv6, no link header.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: the address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture v1 (`tcpdump -i any` before libpcap 1.10).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4 only.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6 only.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux "cooked" capture v2 (`tcpdump -i any` with libpcap 1.10+).
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// A short name for messages, like tcpdump's `-L` output.
    pub fn name(self) -> String {
        match self.0 {
            0 => "NULL".into(),
            1 => "EN10MB (Ethernet)".into(),
            12 | 14 | 101 => "RAW (IP)".into(),
            108 => "LOOP".into(),
            113 => "LINUX_SLL".into(),
            228 => "IPV4".into(),
            229 => "IPV6".into(),
            276 => "LINUX_SLL2".into(),
            n => format!("link type {n}"),
        }
    }

    /// Whether the `net` layer can decode packets of this link type.
    pub fn is_supported(self) -> bool {
        matches!(self.0, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One captured packet.
#[derive(Debug, Clone)]
pub struct Packet {
    /// 1-based position in the capture, like Wireshark's frame number.
    pub number: u64,
    /// When it was captured.
    pub ts: Timestamp,
    /// How to read the first bytes of `data`.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than `orig_len` when a snaplen cut them).
    pub data: Bytes,
    /// The packet's length on the wire.
    pub orig_len: u32,
    /// The pcapng interface it was captured on (0 for pcap and live).
    pub interface: u32,
}

/// Something wrong with a capture that did not stop it from being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureWarning {
    /// Byte offset in the (decompressed) file where the problem is, if known.
    pub offset: Option<u64>,
    /// What is wrong and what was done about it.
    pub message: String,
}

impl fmt::Display for CaptureWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "at byte {o}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Outcome of asking a pure parser for the next record in a byte buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// The buffer holds fewer bytes than the record needs: at least this many in total.
    Need(usize),
    /// A record, and how many bytes of the buffer it used.
    Done(T, usize),
    /// The bytes cannot be a record of this format; the reason.
    Corrupt(String),
}

/// Reads a big- or little-endian `u16` at `at`, or `None` past the end.
pub(crate) fn read_u16(buf: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let b: [u8; 2] = buf.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
}

/// Reads a big- or little-endian `u32` at `at`, or `None` past the end.
pub(crate) fn read_u32(buf: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
}

/// Largest packet record accepted. Real packets are at most 256 KiB even with
/// segmentation offload (libpcap's own limit); anything far larger is a
/// corrupt length, and accepting it would let one record claim gigabytes.
pub const MAX_RECORD_LEN: u32 = 16 * 1024 * 1024;
