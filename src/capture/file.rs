//! Reading a capture file (or standard input) as a stream of [`Packet`]s.
//!
//! The whole file is never held in memory: bytes are read in chunks into one
//! growing buffer, and each packet's data is a zero-copy slice of it.
//! Compression is recognised by magic bytes, not by file name.

use super::pcap_format::{self, PcapHeader};
use super::pcapng::{self, Block, Section};
use super::{CaptureWarning, LinkType, Packet, Step};
use crate::time::Timestamp;
use bytes::BytesMut;
use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How much to read from the input at a time.
const CHUNK: usize = 1024 * 1024;
/// How far to look for the next sane record after damage before giving up.
const RESYNC_WINDOW: usize = 8 * 1024 * 1024;

/// A capture that could not be opened or read at all.
#[derive(Debug)]
pub enum CaptureError {
    /// The file could not be opened.
    Open {
        /// The path as given.
        name: String,
        /// Why.
        source: io::Error,
    },
    /// The file is empty.
    Empty {
        /// The path as given.
        name: String,
    },
    /// The file does not start like any capture format we read.
    NotACapture {
        /// The path as given.
        name: String,
        /// Its first bytes (after decompression, if it was compressed).
        first_bytes: Vec<u8>,
        /// The compression found around it, if any.
        compression: Option<&'static str>,
    },
    /// Reading failed before the first packet.
    Io {
        /// The path as given.
        name: String,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Open { name, source } => write!(f, "{name}: cannot open: {source}"),
            CaptureError::Empty { name } => write!(f, "{name}: the file is empty; expected a pcap or pcapng capture"),
            CaptureError::NotACapture { name, first_bytes, compression } => {
                let hex: Vec<String> = first_bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
                let inside = compression.map(|c| format!(" inside its {c} compression")).unwrap_or_default();
                write!(
                    f,
                    "{name}: not a capture file: expected pcap or pcapng (optionally gzip- or zstd-compressed), but it starts with {}{inside}{}",
                    hex.join(" "),
                    describe_content(first_bytes)
                )
            }
            CaptureError::Io { name, source } => write!(f, "{name}: read error: {source}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// A hint at what a non-capture file is, so the user knows what they passed.
fn describe_content(bytes: &[u8]) -> &'static str {
    let printable = !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    match bytes.first() {
        Some(b'{') | Some(b'[') if printable => " (looks like JSON: is this grpcscope's own output?)",
        _ if bytes.starts_with(b"PK") => " (looks like a zip archive: extract the capture first)",
        _ if printable => " (looks like text)",
        _ => "",
    }
}

/// Which record layout the file uses.
enum Format {
    Pcap(PcapHeader),
    Pcapng(Option<Section>),
}

/// Counts bytes as they are read from the underlying file (before
/// decompression), so a progress gauge can compare them with the file size.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A capture file being read, packet by packet.
pub struct FileCapture {
    name: String,
    input: Box<dyn Read + Send>,
    buf: BytesMut,
    /// Offset of `buf[0]` in the (decompressed) byte stream.
    offset: u64,
    eof: bool,
    stopped: bool,
    format: Format,
    next_number: u64,
    compression: Option<&'static str>,
    warnings: Vec<CaptureWarning>,
    last_ts: Option<Timestamp>,
    backwards: u64,
    first_backwards: Option<u64>,
    /// Link types met that the `net` layer cannot decode, each warned of once.
    unsupported_links: Vec<LinkType>,
    raw_bytes_read: Arc<AtomicU64>,
    total_raw_bytes: Option<u64>,
    /// Where Decryption Secrets Blocks' key logs go.
    key_store: Option<Arc<dyn super::SecretsSink>>,
    /// Key logs read from the last block, not yet handed on.
    key_logs: Vec<Vec<u8>>,
}

impl FileCapture {
    /// Opens `path`; `-` means standard input.
    pub fn open(path: &Path) -> Result<FileCapture, CaptureError> {
        let name = path.display().to_string();
        if name == "-" {
            return FileCapture::from_reader("<stdin>", Box::new(io::stdin()), None);
        }
        let file = File::open(path).map_err(|source| CaptureError::Open { name: name.clone(), source })?;
        let size = file.metadata().ok().map(|m| m.len());
        FileCapture::from_reader(&name, Box::new(file), size)
    }

    /// Reads a capture from any byte source; `size` is its length when known
    /// (for progress reporting).
    pub fn from_reader(name: &str, raw: Box<dyn Read + Send>, size: Option<u64>) -> Result<FileCapture, CaptureError> {
        let count = Arc::new(AtomicU64::new(0));
        let counted: Box<dyn Read + Send> = Box::new(CountingReader { inner: raw, count: count.clone() });
        let (input, compression) = unwrap_compression(name, counted)?;
        let mut cap = FileCapture {
            name: name.to_string(),
            input,
            buf: BytesMut::with_capacity(CHUNK),
            offset: 0,
            eof: false,
            stopped: false,
            format: Format::Pcapng(None),
            next_number: 1,
            compression,
            warnings: Vec::new(),
            last_ts: None,
            backwards: 0,
            first_backwards: None,
            unsupported_links: Vec::new(),
            raw_bytes_read: count,
            total_raw_bytes: size,
            key_store: None,
            key_logs: Vec::new(),
        };
        cap.format = cap.detect_format()?;
        Ok(cap)
    }

    fn detect_format(&mut self) -> Result<Format, CaptureError> {
        self.fill(pcap_format::GLOBAL_HEADER_LEN)
            .map_err(|source| CaptureError::Io { name: self.name.clone(), source })?;
        let magic: [u8; 4] = match self.buf.get(..4).and_then(|m| m.try_into().ok()) {
            Some(m) => m,
            None if self.buf.is_empty() => return Err(CaptureError::Empty { name: self.name.clone() }),
            None => return Err(self.not_a_capture()),
        };
        if pcap_format::is_pcap_magic(magic) {
            return match pcap_format::parse_global_header(&self.buf) {
                Step::Done(h, n) => {
                    self.consume(n);
                    Ok(Format::Pcap(h))
                }
                _ => Err(self.not_a_capture()),
            };
        }
        if u32::from_le_bytes(magic) == pcapng::SHB {
            return Ok(Format::Pcapng(None));
        }
        Err(self.not_a_capture())
    }

    fn not_a_capture(&self) -> CaptureError {
        CaptureError::NotACapture {
            name: self.name.clone(),
            first_bytes: self.buf.iter().take(8).copied().collect(),
            compression: self.compression,
        }
    }

    /// The name the capture was opened under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `gzip` or `zstd` when the file was compressed.
    pub fn compression(&self) -> Option<&'static str> {
        self.compression
    }

    /// Problems met so far (damaged records, a cut file, time going backwards).
    pub fn warnings(&self) -> Vec<CaptureWarning> {
        let mut all = self.warnings.clone();
        if let Some(first) = self.first_backwards {
            all.push(CaptureWarning {
                offset: None,
                message: format!(
                    "timestamps went backwards {} time(s), first at packet {first}; packets were analysed in file order",
                    self.backwards
                ),
            });
        }
        all
    }

    /// Bytes of the file read so far and its size when known (for progress).
    pub fn progress(&self) -> (u64, Option<u64>) {
        (self.raw_bytes_read.load(Ordering::Relaxed), self.total_raw_bytes)
    }

    /// A handle on the read-byte counter, for a progress gauge on another thread.
    pub fn progress_counter(&self) -> Arc<AtomicU64> {
        self.raw_bytes_read.clone()
    }

    /// The next packet, or `None` at the end of the capture (or at a point
    /// past which nothing readable was found; see [`FileCapture::warnings`]).
    pub fn next_packet(&mut self) -> Option<Packet> {
        while !self.stopped {
            let step = match &mut self.format {
                Format::Pcap(h) => pcap_step(&self.buf, h),
                Format::Pcapng(section) => pcapng_step(&self.buf, section, &mut self.key_logs),
            };
            self.keep_key_logs();
            match step {
                Step::Need(n) => self.need(n),
                Step::Done(Some(rec), total) => return Some(self.take_packet(rec, total)),
                Step::Done(None, total) => self.consume(total),
                Step::Corrupt(why) => self.resync(&why),
            }
        }
        None
    }

    /// Key logs met in Decryption Secrets Blocks go to the key store (when
    /// there is none, they are dropped: nobody asked to decrypt).
    fn keep_key_logs(&mut self) {
        for text in self.key_logs.drain(..) {
            if let Some(store) = &self.key_store {
                store.add_key_log(&String::from_utf8_lossy(&text));
            }
        }
    }

    /// Where the TLS key logs of the capture's Decryption Secrets Blocks go.
    pub fn with_key_store(mut self, store: Arc<dyn super::SecretsSink>) -> Self {
        self.key_store = Some(store);
        self
    }

    /// Makes `n` bytes available or stops, warning when the file ends mid-record.
    fn need(&mut self, n: usize) {
        match self.fill(n) {
            Ok(true) => {}
            Ok(false) => {
                if !self.buf.is_empty() {
                    self.warn(format!(
                        "the capture ends in the middle of a record ({} of at least {n} bytes present), as when tcpdump is interrupted; every packet before it was read",
                        self.buf.len()
                    ));
                }
                self.stopped = true;
            }
            Err(e) => {
                self.warn(format!("read error: {e}; every packet before it was read"));
                self.stopped = true;
            }
        }
    }

    fn take_packet(&mut self, rec: RawRecord, total: usize) -> Packet {
        let record = self.buf.split_to(total).freeze();
        let record_offset = self.offset;
        self.offset += total as u64;
        let data = record.slice(rec.data.start.min(total)..rec.data.end.min(total));
        let number = self.next_number;
        self.next_number += 1;
        if let Some(last) = self.last_ts {
            if rec.ts < last {
                self.backwards += 1;
                self.first_backwards.get_or_insert(number);
            }
        }
        self.last_ts = Some(rec.ts);
        if !rec.link.is_supported() && !self.unsupported_links.contains(&rec.link) {
            self.unsupported_links.push(rec.link);
            let message = format!(
                "{} is not decoded (grpcscope reads Ethernet, Linux cooked SLL and SLL2, BSD loopback and raw IP): \
                 its packets, from packet {number} on, are counted and skipped",
                rec.link
            );
            self.warnings.push(CaptureWarning { offset: Some(record_offset), message });
        }
        Packet { number, ts: rec.ts, link: rec.link, data, orig_len: rec.orig_len, interface: rec.interface }
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        let _ = self.buf.split_to(n);
        self.offset += n as u64;
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(CaptureWarning { offset: Some(self.offset), message });
    }

    /// Ensures `buf` holds at least `n` bytes; `false` when the input ended first.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.buf.len() < n {
            if self.eof {
                return Ok(false);
            }
            let old = self.buf.len();
            let want = (n - old).max(CHUNK);
            self.buf.resize(old + want, 0);
            let got = match self.input.read(self.buf.get_mut(old..).unwrap_or(&mut [])) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    self.buf.truncate(old);
                    self.eof = true;
                    return Err(e);
                }
            };
            self.buf.truncate(old + got);
            if got == 0 {
                self.eof = true;
            }
        }
        Ok(true)
    }

    /// After damage, looks for the next position where records make sense
    /// again, so that nothing readable after the damage is lost.
    fn resync(&mut self, why: &str) {
        let start = self.offset;
        let _ = self.fill(RESYNC_WINDOW);
        let found = (1..self.buf.len().saturating_sub(16)).find(|&at| match &self.format {
            Format::Pcap(h) => plausible_pcap_records(self.buf.get(at..).unwrap_or(&[]), h, self.eof),
            Format::Pcapng(section) => {
                at % 4 == 0 && plausible_pcapng_block(self.buf.get(at..).unwrap_or(&[]), section)
            }
        });
        match found {
            Some(at) => {
                self.warn(format!("damaged record: {why}; skipped {at} bytes and resumed at the next sane record"));
                self.consume(at);
            }
            None => {
                self.warnings.push(CaptureWarning {
                    offset: Some(start),
                    message: format!("damaged record: {why}; no readable record follows, so reading stopped here"),
                });
                self.stopped = true;
            }
        }
    }
}

/// A packet record found by a format parser, before its bytes are sliced.
struct RawRecord {
    ts: Timestamp,
    link: LinkType,
    data: std::ops::Range<usize>,
    orig_len: u32,
    interface: u32,
}

fn pcap_step(buf: &[u8], h: &PcapHeader) -> Step<Option<RawRecord>> {
    match pcap_format::parse_record_header(buf, h) {
        Step::Done(r, total) if buf.len() >= total => Step::Done(
            Some(RawRecord {
                ts: r.ts,
                link: h.link,
                data: pcap_format::RECORD_HEADER_LEN..total,
                orig_len: r.orig_len,
                interface: 0,
            }),
            total,
        ),
        Step::Done(_, total) => Step::Need(total),
        Step::Need(n) => Step::Need(n),
        Step::Corrupt(w) => Step::Corrupt(w),
    }
}

fn pcapng_step(buf: &[u8], section: &mut Option<Section>, key_logs: &mut Vec<Vec<u8>>) -> Step<Option<RawRecord>> {
    match pcapng::parse_block(buf, section) {
        Step::Done(Block::TlsKeyLog(text), total) => {
            key_logs.push(buf.get(text).unwrap_or_default().to_vec());
            Step::Done(None, total)
        }
        Step::Done(Block::Packet(p), total) => {
            let link = section
                .as_ref()
                .and_then(|s| s.interfaces.get(p.interface as usize))
                .map_or(LinkType(u32::MAX), |i| i.link);
            Step::Done(
                Some(RawRecord { ts: p.ts, link, data: p.data, orig_len: p.orig_len, interface: p.interface }),
                total,
            )
        }
        Step::Done(_, total) => Step::Done(None, total),
        Step::Need(n) => Step::Need(n),
        Step::Corrupt(w) => Step::Corrupt(w),
    }
}

/// Two consecutive record headers that make sense (or one that ends exactly
/// at the end of the file): lengths within the snaplen, wire length at least
/// the captured length.
fn plausible_pcap_records(buf: &[u8], h: &PcapHeader, eof: bool) -> bool {
    let limit = h.snaplen.clamp(65_535, super::MAX_RECORD_LEN);
    let sane = |b: &[u8]| match pcap_format::parse_record_header(b, h) {
        Step::Done(r, total) if r.incl_len <= limit && r.orig_len >= r.incl_len && r.incl_len > 0 => Some(total),
        _ => None,
    };
    match sane(buf) {
        Some(total) if total == buf.len() && eof => true,
        Some(total) => buf.get(total..).and_then(sane).is_some(),
        None => false,
    }
}

/// A block of a known type whose two length fields agree.
fn plausible_pcapng_block(buf: &[u8], section: &Option<Section>) -> bool {
    let mut probe = section.clone();
    let Some(t) = super::read_u32(buf, 0, section.as_ref().is_some_and(|s| s.big_endian)) else {
        return false;
    };
    matches!(t, 1..=6 | pcapng::SHB) && matches!(pcapng::parse_block(buf, &mut probe), Step::Done(..))
}

/// Peels gzip or zstd compression off `input`, detected by magic bytes.
fn unwrap_compression(
    name: &str,
    mut input: Box<dyn Read + Send>,
) -> Result<(Box<dyn Read + Send>, Option<&'static str>), CaptureError> {
    let mut magic = Vec::with_capacity(4);
    (&mut input)
        .take(4)
        .read_to_end(&mut magic)
        .map_err(|source| CaptureError::Io { name: name.to_string(), source })?;
    let rejoined: Box<dyn Read + Send> = Box::new(Cursor::new(magic.clone()).chain(input));
    if magic.starts_with(&[0x1f, 0x8b]) {
        let reader = flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(CHUNK, rejoined));
        return Ok((Box::new(reader), Some("gzip")));
    }
    if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let reader = zstd::stream::read::Decoder::new(rejoined)
            .map_err(|source| CaptureError::Io { name: name.to_string(), source })?;
        return Ok((Box::new(reader), Some("zstd")));
    }
    Ok((rejoined, None))
}

/// Reads a whole capture held in memory (tests, fuzzing).
pub fn packets_from_bytes(bytes: &[u8]) -> Result<(Vec<Packet>, Vec<CaptureWarning>), CaptureError> {
    let mut cap =
        FileCapture::from_reader("<memory>", Box::new(Cursor::new(bytes.to_vec())), Some(bytes.len() as u64))?;
    let mut out = Vec::new();
    while let Some(p) = cap.next_packet() {
        out.push(p);
    }
    Ok((out, cap.warnings()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap_format::{encode_global_header, encode_record_header};
    use std::io::Write;

    fn pcap_with(packets: &[&[u8]]) -> Vec<u8> {
        let mut f = encode_global_header(LinkType::RAW, 65535, false).to_vec();
        for (i, p) in packets.iter().enumerate() {
            f.extend(encode_record_header(
                Timestamp::from_parts(100 + i as i64, 0),
                p.len() as u32,
                p.len() as u32,
                false,
            ));
            f.extend(*p);
        }
        f
    }

    #[test]
    fn reads_every_packet_of_a_pcap() {
        let (pkts, warnings) = packets_from_bytes(&pcap_with(&[b"one", b"second", b""])).unwrap();
        assert_eq!(pkts.len(), 3);
        assert_eq!(&pkts[1].data[..], b"second");
        assert_eq!(pkts[2].number, 3);
        assert!(warnings.is_empty());
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&pcap_with(&[b"abc"])).unwrap();
        let bytes = gz.finish().unwrap();
        let cap = FileCapture::from_reader("x.pcap", Box::new(Cursor::new(bytes)), None).unwrap();
        assert_eq!(cap.compression(), Some("gzip"));
    }

    #[test]
    fn a_cut_file_keeps_what_came_before_and_says_so() {
        let mut f = pcap_with(&[b"first", b"second packet"]);
        f.truncate(f.len() - 4);
        let (pkts, warnings) = packets_from_bytes(&f).unwrap();
        assert_eq!(pkts.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("middle of a record"), "{}", warnings[0]);
        assert_eq!(warnings[0].offset, Some(24 + 16 + 5));
    }

    #[test]
    fn damage_is_skipped_and_reading_resumes() {
        let mut f = pcap_with(&[b"aaaa"]);
        f.extend([0xffu8; 16]); // garbage where a record header should be
        f.extend(&pcap_with(&[b"bbbb", b"cccc"])[24..]);
        let (pkts, warnings) = packets_from_bytes(&f).unwrap();
        let payloads: Vec<&[u8]> = pkts.iter().map(|p| &p.data[..]).collect();
        assert_eq!(payloads, vec![&b"aaaa"[..], b"bbbb", b"cccc"]);
        assert!(warnings[0].message.contains("skipped 16 bytes"), "{}", warnings[0]);
    }

    #[test]
    fn non_captures_get_one_clear_error() {
        let err = packets_from_bytes(b"{\"conn\": 1}\n").err().unwrap().to_string();
        assert!(err.contains("not a capture file") && err.contains("JSON"), "{err}");
        assert!(matches!(packets_from_bytes(b""), Err(CaptureError::Empty { .. })));
    }

    #[test]
    fn time_going_backwards_is_reported() {
        let mut f = encode_global_header(LinkType::RAW, 65535, false).to_vec();
        for secs in [5, 3, 4] {
            f.extend(encode_record_header(Timestamp::from_parts(secs, 0), 1, 1, false));
            f.push(0);
        }
        let (pkts, warnings) = packets_from_bytes(&f).unwrap();
        assert_eq!(pkts.len(), 3);
        assert!(warnings[0].message.contains("backwards 1 time(s), first at packet 2"));
    }
}
