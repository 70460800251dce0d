//! gRPC Length-Prefixed-Messages: a 1-byte compressed flag, a 4-byte
//! big-endian length, then the message, laid across DATA frames in any way.

use crate::time::Timestamp;
use bytes::{Bytes, BytesMut};
use serde::Serialize;
use std::io::{Read, Write};
use std::ops::Range;

/// One gRPC message as found on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Time of the frame that completed it.
    pub ts: Timestamp,
    /// The compressed flag of its prefix.
    pub compressed: bool,
    /// The length in its prefix (bytes on the wire, before decompression).
    pub length: u32,
    /// Its bytes (possibly compressed), when captured whole and kept.
    pub data: Option<Bytes>,
    /// Why it cannot be decoded, if it cannot.
    pub error: Option<String>,
    /// The packet that completed it.
    pub packet: u64,
}

/// A Length-Prefixed-Message as bytes: the compressed flag, the 4-byte
/// big-endian length, then `body` (the emit that [`Assembler`] mirrors).
pub fn emit(compressed: bool, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(u8::from(compressed));
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Limits on what a message may cost.
#[derive(Debug, Clone, Copy)]
pub struct MessageLimits {
    /// Largest message kept (`--max-message-size`); longer ones are skipped, their length noted.
    pub max_message: usize,
    /// Largest decompressed size (`--max-decompressed-size`): the compression-bomb guard.
    pub max_decompressed: usize,
    /// Keep message bytes at all (not needed for statistics).
    pub keep_payloads: bool,
}

impl Default for MessageLimits {
    fn default() -> Self {
        MessageLimits { max_message: 64 << 20, max_decompressed: 64 << 20, keep_payloads: true }
    }
}

#[derive(Debug)]
enum State {
    /// Collecting the 5-byte prefix.
    Prefix { buf: [u8; 5], have: usize },
    /// Collecting a message body.
    Body { compressed: bool, length: u32, buf: BytesMut, need: usize, keep: bool, damaged: Option<String> },
    /// Message boundaries are unknown (a prefix fell in a capture hole).
    Lost,
}

/// Cuts one direction of one stream into messages.
#[derive(Debug)]
pub struct Assembler {
    state: State,
    limits: MessageLimits,
    /// The length of a message begun since the last [`Assembler::take_oversized`]
    /// that exceeds `max_message`.
    oversized: Option<u32>,
}

impl Assembler {
    /// An assembler at a message boundary.
    pub fn new(limits: MessageLimits) -> Self {
        Assembler { state: State::Prefix { buf: [0; 5], have: 0 }, limits, oversized: None }
    }

    /// Takes a DATA frame's data; `missing` is the part of it that was never
    /// captured (relative to `data`). Complete messages go to `out`.
    pub fn push(
        &mut self,
        ts: Timestamp,
        packet: u64,
        data: &Bytes,
        missing: Option<Range<usize>>,
        out: &mut Vec<Message>,
    ) {
        let mut at = 0;
        while at < data.len() {
            let hole = missing.as_ref().filter(|m| m.end > at && m.start < data.len());
            match &mut self.state {
                State::Lost => return,
                State::Prefix { buf, have } => {
                    if hole.is_some_and(|m| m.start <= at) {
                        // The prefix itself was not captured: boundaries are lost.
                        self.state = State::Lost;
                        return;
                    }
                    let take = (5 - *have).min(data.len() - at);
                    if let (Some(dst), Some(src)) = (buf.get_mut(*have..*have + take), data.get(at..at + take)) {
                        dst.copy_from_slice(src);
                    }
                    *have += take;
                    at += take;
                    if *have == 5 {
                        let b = *buf;
                        self.begin(b, ts, packet, out);
                    }
                }
                State::Body { buf, need, keep, damaged, .. } => {
                    let take = (*need).min(data.len() - at);
                    if let Some(m) = hole {
                        let overlap = m.start.max(at)..m.end.min(at + take);
                        if !overlap.is_empty() {
                            damaged.get_or_insert_with(|| {
                                format!("{} bytes of this message were never captured", overlap.len())
                            });
                        }
                    }
                    if *keep {
                        if let Some(src) = data.get(at..at + take) {
                            buf.extend_from_slice(src);
                        }
                    }
                    *need -= take;
                    at += take;
                    if *need == 0 {
                        self.finish(ts, packet, out);
                    }
                }
            }
        }
    }

    fn begin(&mut self, prefix: [u8; 5], ts: Timestamp, packet: u64, out: &mut Vec<Message>) {
        let compressed = prefix[0] & 1 != 0;
        let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
        let mut damaged = None;
        if prefix[0] > 1 {
            damaged = Some(format!("flags byte 0x{:02x}: only bit 0 (compressed) is defined", prefix[0]));
        }
        let fits = (length as usize) <= self.limits.max_message;
        // Compressed messages are kept even for statistics, long enough for the
        // compression-bomb check.
        let keep = (self.limits.keep_payloads || compressed) && fits;
        if !fits {
            damaged =
                Some(format!("{length}-byte message exceeds --max-message-size {}: not kept", self.limits.max_message));
            self.oversized = Some(length);
        }
        let buf = if keep { BytesMut::with_capacity((length as usize).min(1 << 20)) } else { BytesMut::new() };
        self.state = State::Body { compressed, length, buf, need: length as usize, keep, damaged };
        if length == 0 {
            self.finish(ts, packet, out);
        }
    }

    fn finish(&mut self, ts: Timestamp, packet: u64, out: &mut Vec<Message>) {
        let state = std::mem::replace(&mut self.state, State::Prefix { buf: [0; 5], have: 0 });
        if let State::Body { compressed, length, buf, keep, damaged, .. } = state {
            let data = (keep && damaged.is_none()).then(|| buf.freeze());
            out.push(Message { ts, compressed, length, data, error: damaged, packet });
        }
    }

    /// The claimed length of a message that began over `max_message` since
    /// the last call, so that the call can carry the annotation.
    pub fn take_oversized(&mut self) -> Option<u32> {
        self.oversized.take()
    }

    /// The stream ended (or the capture did): a message in progress is cut.
    pub fn end(&mut self, ts: Timestamp, packet: u64, why: &str, out: &mut Vec<Message>) {
        let state = std::mem::replace(&mut self.state, State::Prefix { buf: [0; 5], have: 0 });
        match state {
            State::Prefix { have, .. } if have > 0 => out.push(Message {
                ts,
                compressed: false,
                length: 0,
                data: None,
                error: Some(format!("{why} after {have} of the 5 prefix bytes")),
                packet,
            }),
            State::Body { compressed, length, need, .. } => out.push(Message {
                ts,
                compressed,
                length,
                data: None,
                error: Some(format!("truncated: {why} after {} of {length} bytes", length as usize - need)),
                packet,
            }),
            _ => {}
        }
    }

    /// Bytes of this direction were lost somewhere (frames missing): a
    /// message in progress is damaged and later boundaries are unknown.
    /// Returns whether this newly lost the boundaries.
    pub fn lose(&mut self, ts: Timestamp, packet: u64, out: &mut Vec<Message>) -> bool {
        let in_progress = !matches!(self.state, State::Prefix { have: 0, .. } | State::Lost);
        if in_progress {
            self.end(ts, packet, "frames lost in a capture gap", out);
        }
        let newly = !matches!(self.state, State::Lost);
        self.state = State::Lost;
        newly
    }

    /// Whether message boundaries are known.
    pub fn in_sync(&self) -> bool {
        !matches!(self.state, State::Lost)
    }
}

/// A compression algorithm named by `grpc-encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// deflate: zlib (RFC 1950) framing, or raw deflate from some peers.
    Deflate,
    /// Zstandard.
    Zstd,
    /// Snappy (framed, or raw block).
    Snappy,
}

impl Codec {
    /// The codec for a `grpc-encoding` value.
    pub fn from_header(v: &str) -> Option<Codec> {
        Some(match v.trim() {
            "identity" => Codec::Identity,
            "gzip" | "x-gzip" => Codec::Gzip,
            "deflate" => Codec::Deflate,
            "zstd" => Codec::Zstd,
            "snappy" => Codec::Snappy,
            _ => return None,
        })
    }
}

/// Why a message could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecompressError {
    /// It inflates past the limit (`--max-decompressed-size`): a
    /// compression bomb, or a limit set too low. `Some(n)` when the format
    /// states the size up front (raw snappy).
    Limit {
        /// The limit.
        limit: usize,
        /// The size the data declares, when it declares one.
        declared: Option<usize>,
    },
    /// The bytes are not valid for the codec.
    Corrupt(String),
}

impl std::fmt::Display for DecompressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecompressError::Limit { limit, declared: Some(n) } => {
                write!(f, "decompresses to {n} bytes, more than {limit} (--max-decompressed-size)")
            }
            DecompressError::Limit { limit, declared: None } => write!(
                f,
                "decompresses to more than {limit} bytes (compression bomb?): stopped (--max-decompressed-size)"
            ),
            DecompressError::Corrupt(why) => f.write_str(why),
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> DecompressError {
    DecompressError::Corrupt(e.to_string())
}

/// Decompresses `data`, refusing to produce more than `limit` bytes.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    if let Codec::Snappy = codec {
        if !data.starts_with(SNAPPY_STREAM) {
            raw_snappy_len(data, limit)?;
            return snap::raw::Decoder::new().decompress_vec(data).map_err(corrupt);
        }
    }
    let mut out = Vec::new();
    inflate(codec, data, limit, &mut out)?;
    Ok(out)
}

/// The decompressed size of `data`, found without keeping the output: the
/// compression-bomb check, cheap enough for every compressed message.
/// Also returns how many bytes follow the last gzip member without being
/// one (trailing garbage, which clients treat differently).
pub fn decompressed_len(codec: Codec, data: &[u8], limit: usize) -> Result<(u64, usize), DecompressError> {
    if let Codec::Snappy = codec {
        if !data.starts_with(SNAPPY_STREAM) {
            return raw_snappy_len(data, limit).map(|n| (n as u64, 0));
        }
    }
    inflate(codec, data, limit, &mut std::io::sink())
}

const SNAPPY_STREAM: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// A raw snappy block states its decompressed length up front.
fn raw_snappy_len(data: &[u8], limit: usize) -> Result<usize, DecompressError> {
    let len = snap::raw::decompress_len(data).map_err(corrupt)?;
    if len > limit {
        return Err(DecompressError::Limit { limit, declared: Some(len) });
    }
    Ok(len)
}

/// RFC 1950: method 8 (deflate) in the low nibble, and a header checksum divisible by 31.
fn has_zlib_header(data: &[u8]) -> bool {
    matches!(data, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0)
}

/// Streams the decompressed bytes of `data` into `out`, stopping one byte
/// past `limit`; returns the size and the bytes of trailing garbage.
fn inflate(codec: Codec, data: &[u8], limit: usize, out: &mut dyn Write) -> Result<(u64, usize), DecompressError> {
    let capped = |r: &mut dyn Read, out: &mut dyn Write| -> Result<u64, DecompressError> {
        let n = std::io::copy(&mut r.take(limit as u64 + 1), out).map_err(corrupt)?;
        if n > limit as u64 {
            return Err(DecompressError::Limit { limit, declared: None });
        }
        Ok(n)
    };
    let whole = |n: Result<u64, DecompressError>| n.map(|n| (n, 0));
    match codec {
        Codec::Identity => out.write_all(data).map(|()| (data.len() as u64, 0)).map_err(corrupt),
        Codec::Gzip => gunzip_members(data, limit, out),
        // zlib-wrapped is what the spec means; raw deflate is what some peers send.
        Codec::Deflate if has_zlib_header(data) => whole(capped(&mut flate2::read::ZlibDecoder::new(data), out)),
        Codec::Deflate => whole(capped(&mut flate2::read::DeflateDecoder::new(data), out)),
        Codec::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(data).map_err(corrupt)?;
            whole(capped(&mut d, out))
        }
        Codec::Snappy => whole(capped(&mut snap::read::FrameDecoder::new(data), out)),
    }
}

/// Every member of a gzip stream, one after another, as gzip readers do
/// (RFC 1952 §2.2; Go's gzip.Reader, Java's GZIPInputStream): a message
/// of two members is both. Bytes after the last member that do not start
/// another are counted, not decoded.
fn gunzip_members(data: &[u8], limit: usize, out: &mut dyn Write) -> Result<(u64, usize), DecompressError> {
    let mut rest = data;
    let mut total: u64 = 0;
    loop {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        let room = (limit as u64 + 1).saturating_sub(total);
        total += std::io::copy(&mut (&mut member).take(room), out).map_err(corrupt)?;
        if total > limit as u64 {
            return Err(DecompressError::Limit { limit, declared: None });
        }
        rest = member.into_inner();
        if rest.is_empty() {
            return Ok((total, 0));
        }
        if !rest.starts_with(&[0x1f, 0x8b]) {
            return Ok((total, rest.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lpm(compressed: bool, body: &[u8]) -> Vec<u8> {
        let mut v = vec![u8::from(compressed)];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn run(chunks: &[&[u8]]) -> Vec<Message> {
        let mut a = Assembler::new(MessageLimits::default());
        let mut out = Vec::new();
        for c in chunks {
            a.push(Timestamp(0), 1, &Bytes::copy_from_slice(c), None, &mut out);
        }
        out
    }

    #[test]
    fn messages_across_frames_and_many_per_frame() {
        let mut all = lpm(false, b"first");
        all.extend(lpm(true, b"second"));
        all.extend(lpm(false, b""));
        // Byte by byte.
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        let msgs = run(&bytes);
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].data.as_deref(), Some(&b"first"[..]));
        assert!(msgs[1].compressed);
        assert_eq!((msgs[2].length, msgs[2].data.as_deref()), (0, Some(&b""[..])));
        // All in one frame.
        assert_eq!(run(&[&all]).len(), 3);
    }

    #[test]
    fn a_4_gib_length_is_skipped_not_allocated() {
        let mut a = Assembler::new(MessageLimits { max_message: 1024, ..Default::default() });
        let mut out = Vec::new();
        a.push(Timestamp(0), 1, &Bytes::from_static(&[0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]), None, &mut out);
        assert!(out.is_empty());
        a.end(Timestamp(1), 2, "the stream ended", &mut out);
        assert!(out[0].error.as_ref().unwrap().contains("truncated: the stream ended after 3 of 4294967295 bytes"));
    }

    #[test]
    fn holes_damage_messages_and_lost_prefixes_lose_sync() {
        let mut a = Assembler::new(MessageLimits::default());
        let mut out = Vec::new();
        let frame = Bytes::from(lpm(false, &[9; 20]));
        a.push(Timestamp(0), 1, &frame, Some(10..15), &mut out);
        assert!(out[0].error.as_ref().unwrap().contains("5 bytes of this message were never captured"));
        assert!(out[0].data.is_none());
        a.push(Timestamp(0), 1, &frame, Some(0..3), &mut out);
        assert!(!a.in_sync());
        assert_eq!(out.len(), 1, "no pseudo-message for lost boundaries");
    }

    #[test]
    fn decompression_and_its_bomb_guard() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress(Codec::Gzip, &gz, 2 << 20).unwrap().len(), 1 << 20);
        let err = decompress(Codec::Gzip, &gz, 4096).unwrap_err();
        assert_eq!(err, DecompressError::Limit { limit: 4096, declared: None });
        assert!(err.to_string().contains("compression bomb"), "{err}");
        let z = zstd::encode_all(&b"zstd payload"[..], 3).unwrap();
        assert_eq!(decompress(Codec::Zstd, &z, 100).unwrap(), b"zstd payload");
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(b"deflated").unwrap();
        assert_eq!(decompress(Codec::Deflate, &zl.finish().unwrap(), 100).unwrap(), b"deflated");
        let sn = snap::raw::Encoder::new().compress_vec(b"snappy snappy snappy").unwrap();
        assert_eq!(decompress(Codec::Snappy, &sn, 100).unwrap(), b"snappy snappy snappy");
        assert!(decompress(Codec::Gzip, b"not gzip", 100).is_err());
    }
}
