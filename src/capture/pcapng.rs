//! pcapng: a sequence of typed blocks. Sections (SHB) set the byte order;
//! interface blocks (IDB) declare a link type and timestamp resolution each;
//! packet blocks (EPB, SPB and the obsolete PB) refer to an interface.
//! Pure functions over byte slices; the reader in [`super::file`] feeds them.

use super::{read_u16, read_u32, LinkType, Step, MAX_RECORD_LEN};
use crate::time::Timestamp;
use std::ops::Range;

/// Block type of a Section Header Block (the same in both byte orders).
pub const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OLD_PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
/// Decryption Secrets Block (pcapng §4.7).
const DSB: u32 = 0x0A;
/// Its secrets type for a TLS key log ("TLSK").
const SECRETS_TLS_KEY_LOG: u32 = 0x544c_534b;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Largest block accepted: a maximal packet plus its block overhead and options.
const MAX_BLOCK_LEN: u32 = MAX_RECORD_LEN + 64 * 1024;

/// One capture interface declared by an IDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Link-layer header type of its packets.
    pub link: LinkType,
    /// Largest number of bytes kept per packet (0 = unlimited).
    pub snaplen: u32,
    /// `if_tsresol`: bit 7 clear = 10^-n seconds per unit, set = 2^-n.
    pub tsresol: u8,
    /// `if_tsoffset`: seconds to add to every timestamp.
    pub tsoffset: i64,
    /// `if_name`, when the writer recorded it.
    pub name: Option<String>,
}

impl Interface {
    /// Converts a raw 64-bit timestamp in this interface's units.
    pub fn timestamp(&self, units: u64) -> Timestamp {
        let exp = u32::from(self.tsresol & 0x7f);
        let per_second: u128 = if self.tsresol & 0x80 != 0 {
            1u128.checked_shl(exp.min(127)).unwrap_or(u128::MAX)
        } else {
            10u128.checked_pow(exp.min(38)).unwrap_or(u128::MAX)
        };
        let secs = u128::from(units) / per_second;
        let rem = u128::from(units) % per_second;
        let nanos = rem.saturating_mul(1_000_000_000) / per_second;
        let secs = i64::try_from(secs).unwrap_or(i64::MAX).saturating_add(self.tsoffset);
        Timestamp::from_parts(secs, nanos as i64)
    }
}

/// The state a section carries: byte order and the interfaces declared so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Multi-byte fields are big-endian.
    pub big_endian: bool,
    /// Interfaces in declaration order; packet blocks refer to them by index.
    pub interfaces: Vec<Interface>,
}

/// A packet found in an EPB, SPB or PB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRecord {
    /// Index of the interface in the current section.
    pub interface: u32,
    /// Capture time.
    pub ts: Timestamp,
    /// Where the packet bytes are, relative to the start of the block.
    pub data: Range<usize>,
    /// Length on the wire.
    pub orig_len: u32,
}

/// What a block turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A new section began (the interface list was reset).
    SectionHeader,
    /// An interface was declared.
    Interface,
    /// A packet.
    Packet(PacketRecord),
    /// A Decryption Secrets Block holding a TLS key log: where its text is,
    /// relative to the start of the block.
    TlsKeyLog(Range<usize>),
    /// Any other block type (statistics, name resolution, custom...), skipped.
    Other(u32),
}

/// Parses the block at the start of `buf`. A section header updates
/// `section`; an interface block appends to it.
pub fn parse_block(buf: &[u8], section: &mut Option<Section>) -> Step<Block> {
    if buf.len() < 12 {
        return Step::Need(12);
    }
    let Some(block_type) = read_u32(buf, 0, false) else {
        return Step::Need(12);
    };
    if block_type == SHB {
        return parse_section_header(buf, section);
    }
    let Some(sec) = section.as_mut() else {
        return Step::Corrupt("pcapng data before any section header".into());
    };
    let be = sec.big_endian;
    let block_type = read_u32(buf, 0, be).unwrap_or(0);
    let total = match checked_block_len(buf, be) {
        Ok(t) => t,
        Err(step) => return step,
    };
    let Some(body) = buf.get(..total) else {
        return Step::Need(total);
    };
    let block = match block_type {
        IDB => parse_interface(body, sec).map(|()| Block::Interface),
        EPB => parse_enhanced_packet(body, sec).map(Block::Packet),
        SPB => parse_simple_packet(body, sec).map(Block::Packet),
        OLD_PB => parse_old_packet(body, sec).map(Block::Packet),
        DSB => Ok(parse_secrets(body, sec)),
        other => Ok(Block::Other(other)),
    };
    match block {
        Ok(b) => Step::Done(b, total),
        Err(why) => Step::Corrupt(why),
    }
}

/// Reads and checks the leading block length: a multiple of 4, at least 12,
/// not absurd; the trailing copy must match once the block is in the buffer.
fn checked_block_len(buf: &[u8], be: bool) -> Result<usize, Step<Block>> {
    let len = read_u32(buf, 4, be).unwrap_or(0);
    if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK_LEN {
        return Err(Step::Corrupt(format!(
            "block length {len} is impossible (must be a multiple of 4, 12..{MAX_BLOCK_LEN})"
        )));
    }
    let total = len as usize;
    if buf.len() < total {
        return Err(Step::Need(total));
    }
    let trailer = read_u32(buf, total - 4, be).unwrap_or(0);
    if trailer != len {
        return Err(Step::Corrupt(format!("block length {len} at its start but {trailer} at its end")));
    }
    Ok(total)
}

fn parse_section_header(buf: &[u8], section: &mut Option<Section>) -> Step<Block> {
    let big_endian = match read_u32(buf, 8, true) {
        Some(BYTE_ORDER_MAGIC) => true,
        _ if read_u32(buf, 8, false) == Some(BYTE_ORDER_MAGIC) => false,
        _ => return Step::Corrupt("section header without the byte-order magic 0x1A2B3C4D".into()),
    };
    let total = match checked_block_len(buf, big_endian) {
        Ok(t) => t,
        Err(step) => return step,
    };
    *section = Some(Section { big_endian, interfaces: Vec::new() });
    Step::Done(Block::SectionHeader, total)
}

fn parse_interface(body: &[u8], sec: &mut Section) -> Result<(), String> {
    let be = sec.big_endian;
    let link = read_u16(body, 8, be).ok_or("interface block too short")?;
    let snaplen = read_u32(body, 12, be).ok_or("interface block too short")?;
    let mut iface = Interface { link: LinkType(u32::from(link)), snaplen, tsresol: 6, tsoffset: 0, name: None };
    let options = body.get(16..body.len().saturating_sub(4)).unwrap_or(&[]);
    for (code, value) in Options::new(options, be) {
        match code {
            2 => iface.name = Some(String::from_utf8_lossy(value).trim_end_matches('\0').to_string()),
            9 => iface.tsresol = value.first().copied().unwrap_or(6),
            14 => {
                if let Some(b) = value.get(..8).and_then(|v| <[u8; 8]>::try_from(v).ok()) {
                    iface.tsoffset = if be { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) };
                }
            }
            _ => {}
        }
    }
    sec.interfaces.push(iface);
    Ok(())
}

fn interface(sec: &Section, id: u32) -> Result<&Interface, String> {
    sec.interfaces
        .get(id as usize)
        .ok_or_else(|| format!("packet refers to interface {id}, but only {} were declared", sec.interfaces.len()))
}

fn parse_enhanced_packet(body: &[u8], sec: &Section) -> Result<PacketRecord, String> {
    let id = read_u32(body, 8, sec.big_endian).ok_or("enhanced packet block too short")?;
    timed_packet(body, sec, id)
}

/// A Decryption Secrets Block: secrets type, length, the secrets. Other
/// secrets types (WireGuard, ZigBee...) are skipped.
fn parse_secrets(body: &[u8], sec: &Section) -> Block {
    let be = sec.big_endian;
    let (Some(kind), Some(len)) = (read_u32(body, 8, be), read_u32(body, 12, be)) else { return Block::Other(DSB) };
    let end = 16usize.saturating_add(len as usize);
    if kind != SECRETS_TLS_KEY_LOG || end > body.len().saturating_sub(4) {
        return Block::Other(DSB);
    }
    Block::TlsKeyLog(16..end)
}

/// A Decryption Secrets Block carrying `key_log` (what `editcap --inject-secrets tls,FILE` writes).
pub fn encode_secrets(key_log: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(key_log.len() + 12);
    body.extend_from_slice(&SECRETS_TLS_KEY_LOG.to_le_bytes());
    body.extend_from_slice(&(key_log.len() as u32).to_le_bytes());
    body.extend_from_slice(key_log);
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let mut out = Vec::new();
    push_block(&mut out, DSB, &body);
    out
}

fn parse_simple_packet(body: &[u8], sec: &Section) -> Result<PacketRecord, String> {
    let orig_len = read_u32(body, 8, sec.big_endian).ok_or("simple packet block too short")?;
    let iface = interface(sec, 0)?;
    let room = body.len().saturating_sub(16);
    let mut cap = (orig_len as usize).min(room);
    if iface.snaplen > 0 {
        cap = cap.min(iface.snaplen as usize);
    }
    // A simple packet block has no timestamp: it is honest to give none, so
    // it inherits the epoch and callers see it for what it is.
    Ok(PacketRecord { interface: 0, ts: Timestamp(0), data: 12..12 + cap, orig_len })
}

fn parse_old_packet(body: &[u8], sec: &Section) -> Result<PacketRecord, String> {
    let id = read_u16(body, 8, sec.big_endian).ok_or("packet block too short")?;
    timed_packet(body, sec, u32::from(id))
}

/// The layout EPB and the obsolete PB share after their interface field:
/// timestamp (high, low), captured length, original length, packet bytes at 28.
fn timed_packet(body: &[u8], sec: &Section, id: u32) -> Result<PacketRecord, String> {
    let be = sec.big_endian;
    let field = |at| read_u32(body, at, be).ok_or_else(|| "packet block too short".to_string());
    let (high, low, cap_len, orig_len) = (field(12)?, field(16)?, field(20)?, field(24)?);
    let iface = interface(sec, id)?;
    let end = 28usize.saturating_add(cap_len as usize);
    if end > body.len().saturating_sub(4) {
        return Err(format!("packet claims {cap_len} bytes but its block holds {}", body.len().saturating_sub(32)));
    }
    let ts = iface.timestamp((u64::from(high) << 32) | u64::from(low));
    Ok(PacketRecord { interface: id, ts, data: 28..end, orig_len })
}

/// Iterator over `(code, value)` options until `opt_endofopt` or the end.
struct Options<'a> {
    rest: &'a [u8],
    be: bool,
}

impl<'a> Options<'a> {
    fn new(rest: &'a [u8], be: bool) -> Self {
        Options { rest, be }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let code = read_u16(self.rest, 0, self.be)?;
        let len = read_u16(self.rest, 2, self.be)? as usize;
        if code == 0 {
            return None;
        }
        let value = self.rest.get(4..4 + len)?;
        let padded = 4 + len.div_ceil(4) * 4;
        self.rest = self.rest.get(padded..).unwrap_or(&[]);
        Some((code, value))
    }
}

/// Encodes a minimal little-endian section: a section header and one
/// interface block per link type (used by tests and fixtures).
pub fn encode_section(links: &[(LinkType, u8)]) -> Vec<u8> {
    let mut out = Vec::new();
    push_block(
        &mut out,
        SHB,
        &[&BYTE_ORDER_MAGIC.to_le_bytes()[..], &1u16.to_le_bytes(), &0u16.to_le_bytes(), &(-1i64).to_le_bytes()]
            .concat(),
    );
    for (link, tsresol) in links {
        let mut body = Vec::new();
        body.extend_from_slice(&(link.0 as u16).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[*tsresol, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]);
        push_block(&mut out, IDB, &body);
    }
    out
}

/// Encodes an enhanced packet block (timestamp already in interface units).
pub fn encode_enhanced_packet(interface: u32, units: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut body = Vec::new();
    for word in [interface, (units >> 32) as u32, units as u32, data.len() as u32, orig_len] {
        body.extend_from_slice(&word.to_le_bytes());
    }
    body.extend_from_slice(data);
    body.resize(body.len().div_ceil(4) * 4, 0);
    let mut out = Vec::new();
    push_block(&mut out, EPB, &body);
    out
}

fn push_block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let len = (12 + body.len()) as u32;
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> (Vec<Block>, Option<Section>) {
        let mut section = None;
        let mut at = 0;
        let mut blocks = Vec::new();
        while at < bytes.len() {
            match parse_block(&bytes[at..], &mut section) {
                Step::Done(b, n) => {
                    blocks.push(b);
                    at += n;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        (blocks, section)
    }

    #[test]
    fn interfaces_with_different_link_types_and_resolutions() {
        let mut file = encode_section(&[(LinkType::ETHERNET, 6), (LinkType::LINUX_SLL2, 9)]);
        file.extend(encode_enhanced_packet(0, 1_700_000_000_250_000, b"abcde", 5));
        file.extend(encode_enhanced_packet(1, 1_700_000_000_000_000_007, b"xyz", 60));
        let (blocks, section) = parse_all(&file);
        let section = section.unwrap();
        assert_eq!(section.interfaces[1].link, LinkType::LINUX_SLL2);
        let Block::Packet(p0) = &blocks[3] else { panic!() };
        assert_eq!(p0.ts, Timestamp::from_parts(1_700_000_000, 250_000_000));
        assert_eq!(p0.data, 28..33);
        let Block::Packet(p1) = &blocks[4] else { panic!() };
        assert_eq!((p1.interface, p1.ts, p1.orig_len), (1, Timestamp::from_parts(1_700_000_000, 7), 60));
    }

    #[test]
    fn binary_resolution_and_offset() {
        let iface = Interface { link: LinkType::RAW, snaplen: 0, tsresol: 0x80 | 10, tsoffset: 100, name: None };
        // 1024 units per second: 1536 units is 1.5 s, plus the 100 s offset.
        assert_eq!(iface.timestamp(1536), Timestamp::from_parts(101, 500_000_000));
    }

    #[test]
    fn damaged_blocks_are_reported_not_trusted() {
        let mut file = encode_section(&[(LinkType::ETHERNET, 6)]);
        let mut pkt = encode_enhanced_packet(0, 1, b"abcd", 4);
        let n = pkt.len();
        pkt[n - 4] = 0xff; // trailing length disagrees
        let start = file.len();
        file.extend(pkt);
        let mut section = None;
        assert!(matches!(parse_block(&file, &mut section), Step::Done(Block::SectionHeader, _)));
        let idb_len = match parse_block(&file[28..], &mut section) {
            Step::Done(Block::Interface, n) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(28 + idb_len, start);
        assert!(matches!(parse_block(&file[start..], &mut section), Step::Corrupt(_)));
        // A packet on an interface that was never declared.
        let stray = encode_enhanced_packet(3, 1, b"abcd", 4);
        assert!(matches!(parse_block(&stray, &mut section), Step::Corrupt(m) if m.contains("interface 3")));
        // Before any section header.
        assert!(matches!(parse_block(&stray, &mut None), Step::Corrupt(_)));
    }
}
