//! The HTTP/2 frame layer (RFC 9113 §4, §6): the 9-byte header and the
//! payload of every frame type. Pure functions over bytes.

use bytes::Bytes;
use serde::Serialize;
use std::ops::Range;

/// Length of the frame header.
pub const HEADER_LEN: usize = 9;
/// The client connection preface (§3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Default SETTINGS_MAX_FRAME_SIZE.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// Frame types (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub struct FrameType(pub u8);

impl FrameType {
    /// DATA
    pub const DATA: FrameType = FrameType(0);
    /// HEADERS
    pub const HEADERS: FrameType = FrameType(1);
    /// PRIORITY
    pub const PRIORITY: FrameType = FrameType(2);
    /// RST_STREAM
    pub const RST_STREAM: FrameType = FrameType(3);
    /// SETTINGS
    pub const SETTINGS: FrameType = FrameType(4);
    /// PUSH_PROMISE
    pub const PUSH_PROMISE: FrameType = FrameType(5);
    /// PING
    pub const PING: FrameType = FrameType(6);
    /// GOAWAY
    pub const GOAWAY: FrameType = FrameType(7);
    /// WINDOW_UPDATE
    pub const WINDOW_UPDATE: FrameType = FrameType(8);
    /// CONTINUATION
    pub const CONTINUATION: FrameType = FrameType(9);

    /// The RFC's name, or `UNKNOWN(n)`.
    pub fn name(self) -> String {
        match self.0 {
            0 => "DATA".into(),
            1 => "HEADERS".into(),
            2 => "PRIORITY".into(),
            3 => "RST_STREAM".into(),
            4 => "SETTINGS".into(),
            5 => "PUSH_PROMISE".into(),
            6 => "PING".into(),
            7 => "GOAWAY".into(),
            8 => "WINDOW_UPDATE".into(),
            9 => "CONTINUATION".into(),
            n => format!("UNKNOWN({n})"),
        }
    }

    /// The flags this type defines, as (bit, name).
    pub fn defined_flags(self) -> &'static [(u8, &'static str)] {
        match self.0 {
            0 => &[(0x1, "END_STREAM"), (0x8, "PADDED")],
            1 => &[(0x1, "END_STREAM"), (0x4, "END_HEADERS"), (0x8, "PADDED"), (0x20, "PRIORITY")],
            4 | 6 => &[(0x1, "ACK")],
            5 => &[(0x4, "END_HEADERS"), (0x8, "PADDED")],
            9 => &[(0x4, "END_HEADERS")],
            _ => &[],
        }
    }

    /// Names of the defined flags set in `flags`.
    pub fn flag_names(self, flags: u8) -> Vec<&'static str> {
        self.defined_flags().iter().filter(|(bit, _)| flags & bit != 0).map(|(_, n)| *n).collect()
    }
}

/// Flag bits.
pub mod flags {
    /// END_STREAM (DATA, HEADERS)
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING)
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION)
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS, PUSH_PROMISE)
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS)
    pub const PRIORITY: u8 = 0x20;
}

/// A frame as bytes: the 9-byte header (RFC 9113 §4.1), then `payload`:
/// the emit that [`FrameHeader::parse`] mirrors.
pub fn emit(kind: FrameType, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + payload.len());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    b.push(kind.0);
    b.push(flags);
    b.extend_from_slice(&stream_id.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// The 9-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameHeader {
    /// Payload length.
    pub length: u32,
    /// Type.
    #[serde(rename = "type")]
    pub kind: FrameType,
    /// Flags.
    pub flags: u8,
    /// Stream identifier (the reserved bit masked off).
    pub stream_id: u32,
    /// The reserved bit was set (a protocol violation, ignored as the RFC says).
    pub reserved_bit: bool,
}

impl FrameHeader {
    /// Parses the header at the start of `b`.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        let length = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let sid = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        Some(FrameHeader {
            length,
            kind: FrameType(h[3]),
            flags: h[4],
            stream_id: sid & 0x7fff_ffff,
            reserved_bit: sid & 0x8000_0000 != 0,
        })
    }

    /// Whether flag bit `f` is set.
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.length as usize
    }

    /// Whether this header could plausibly start a frame, judged strictly:
    /// a known type, only defined flags, the stream id and length rules of
    /// the type. Used to find frame boundaries again after lost bytes.
    pub fn is_plausible(&self, max_frame_size: u32) -> bool {
        if self.length > max_frame_size.max(DEFAULT_MAX_FRAME_SIZE) || self.reserved_bit || self.kind.0 > 9 {
            return false;
        }
        let defined: u8 = self.kind.defined_flags().iter().map(|(b, _)| b).fold(0, |a, b| a | b);
        if self.flags & !defined != 0 {
            return false;
        }
        let on_stream = self.stream_id != 0;
        match self.kind.0 {
            0 | 1 | 5 | 9 => on_stream,
            2 => on_stream && self.length == 5,
            3 => on_stream && self.length == 4,
            4 => !on_stream && self.length.is_multiple_of(6) && (!self.has(flags::ACK) || self.length == 0),
            6 => !on_stream && self.length == 8,
            7 => !on_stream && self.length >= 8,
            8 => self.length == 4,
            _ => false,
        }
    }
}

/// Stream dependency information (§5.3, deprecated but still on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Priority {
    /// Exclusive flag.
    pub exclusive: bool,
    /// Stream this one depends on.
    pub depends_on: u32,
    /// Weight, 1..=256.
    pub weight: u16,
}

/// A decoded frame payload. Ranges index into the frame's payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// DATA: application bytes (padding excluded).
    Data {
        /// Pad length, when PADDED.
        pad_len: Option<u8>,
        /// The data.
        data: Range<usize>,
    },
    /// HEADERS: a header block fragment.
    Headers {
        /// Pad length, when PADDED.
        pad_len: Option<u8>,
        /// Priority fields, when PRIORITY.
        priority: Option<Priority>,
        /// The fragment.
        fragment: Range<usize>,
    },
    /// PRIORITY
    Priority(Priority),
    /// RST_STREAM
    RstStream {
        /// Error code.
        error_code: u32,
    },
    /// SETTINGS: (identifier, value) pairs in order.
    Settings {
        /// Acknowledgment of the peer's SETTINGS.
        ack: bool,
        /// Parameters.
        params: Vec<(u16, u32)>,
    },
    /// PUSH_PROMISE
    PushPromise {
        /// Pad length, when PADDED.
        pad_len: Option<u8>,
        /// The reserved stream.
        promised_stream_id: u32,
        /// The fragment.
        fragment: Range<usize>,
    },
    /// PING
    Ping {
        /// A reply.
        ack: bool,
        /// Opaque data.
        opaque: [u8; 8],
    },
    /// GOAWAY
    GoAway {
        /// Highest stream the sender may have processed.
        last_stream_id: u32,
        /// Error code.
        error_code: u32,
        /// Debug data.
        debug: Range<usize>,
    },
    /// WINDOW_UPDATE
    WindowUpdate {
        /// Increment (0 is a protocol error).
        increment: u32,
    },
    /// CONTINUATION
    Continuation {
        /// The fragment.
        fragment: Range<usize>,
    },
    /// An extension frame type: kept with its bytes, ignored as the RFC says.
    Unknown,
    /// The payload breaks its type's rules; the reason.
    Malformed(FrameError),
}

/// How a frame's payload breaks its type's rules (RFC 9113 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the type's fixed fields.
    ShorterThanFixed {
        /// Payload bytes.
        len: usize,
        /// Fixed bytes the type needs.
        fixed: usize,
    },
    /// PADDED without the pad-length byte.
    NoPadLength,
    /// Padding longer than the payload can hold (§6.1: PROTOCOL_ERROR).
    PaddingTooLong {
        /// Pad length.
        pad: u8,
        /// Payload bytes.
        len: usize,
    },
    /// A payload whose length the type fixes (PRIORITY 5, RST_STREAM 4,
    /// PING 8, WINDOW_UPDATE 4) is another length.
    WrongLength {
        /// The frame type.
        kind: FrameType,
        /// The length it must have.
        want: usize,
        /// The length it has.
        len: usize,
    },
    /// GOAWAY shorter than its 8 fixed bytes.
    GoAwayTooShort {
        /// Payload bytes.
        len: usize,
    },
    /// SETTINGS with ACK and a payload (FRAME_SIZE_ERROR).
    SettingsAckNotEmpty,
    /// SETTINGS whose length is not a multiple of 6 (FRAME_SIZE_ERROR).
    SettingsLength {
        /// Payload bytes.
        len: usize,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::ShorterThanFixed { len, fixed } => {
                write!(f, "payload of {len} bytes is shorter than its {fixed} fixed bytes")
            }
            FrameError::NoPadLength => f.write_str("PADDED frame without a pad length byte"),
            FrameError::PaddingTooLong { pad, len } => {
                write!(f, "padding of {pad} bytes does not fit in a {len}-byte payload (RFC 9113 §6.1: PROTOCOL_ERROR)")
            }
            FrameError::WrongLength { kind, want, len } => {
                write!(f, "{} payload must be {want} bytes, not {len}", kind.name())
            }
            FrameError::GoAwayTooShort { len } => write!(f, "GOAWAY payload must be at least 8 bytes, not {len}"),
            FrameError::SettingsAckNotEmpty => f.write_str("SETTINGS with ACK must be empty (FRAME_SIZE_ERROR)"),
            FrameError::SettingsLength { len } => {
                write!(f, "SETTINGS payload of {len} bytes is not a multiple of 6 (FRAME_SIZE_ERROR)")
            }
        }
    }
}

/// Parses a payload of a frame with header `h`.
pub fn parse_body(h: &FrameHeader, p: &Bytes) -> Body {
    let len = p.len();
    let wrong = |want| Body::Malformed(FrameError::WrongLength { kind: h.kind, want, len });
    match h.kind {
        FrameType::DATA => match strip_padding(h, p, 0) {
            Ok((pad_len, data)) => Body::Data { pad_len, data },
            Err(e) => Body::Malformed(e),
        },
        FrameType::HEADERS => {
            let extra = if h.has(flags::PRIORITY) { 5 } else { 0 };
            match strip_padding(h, p, extra) {
                Ok((pad_len, range)) => {
                    let priority = h.has(flags::PRIORITY).then(|| priority_at(p, range.start - 5)).flatten();
                    Body::Headers { pad_len, priority, fragment: range }
                }
                Err(e) => Body::Malformed(e),
            }
        }
        FrameType::PRIORITY if len == 5 => priority_at(p, 0).map_or_else(|| wrong(5), Body::Priority),
        FrameType::PRIORITY => wrong(5),
        FrameType::RST_STREAM if len == 4 => Body::RstStream { error_code: be32(p, 0) },
        FrameType::RST_STREAM => wrong(4),
        FrameType::SETTINGS => settings(h, p),
        FrameType::PUSH_PROMISE => match strip_padding(h, p, 4) {
            Ok((pad_len, range)) => Body::PushPromise {
                pad_len,
                promised_stream_id: be32(p, range.start - 4) & 0x7fff_ffff,
                fragment: range,
            },
            Err(e) => Body::Malformed(e),
        },
        FrameType::PING if len == 8 => {
            let mut opaque = [0u8; 8];
            opaque.copy_from_slice(p.get(..8).unwrap_or(&[0; 8]));
            Body::Ping { ack: h.has(flags::ACK), opaque }
        }
        FrameType::PING => wrong(8),
        FrameType::GOAWAY if len >= 8 => {
            Body::GoAway { last_stream_id: be32(p, 0) & 0x7fff_ffff, error_code: be32(p, 4), debug: 8..len }
        }
        FrameType::GOAWAY => Body::Malformed(FrameError::GoAwayTooShort { len }),
        FrameType::WINDOW_UPDATE if len == 4 => Body::WindowUpdate { increment: be32(p, 0) & 0x7fff_ffff },
        FrameType::WINDOW_UPDATE => wrong(4),
        FrameType::CONTINUATION => Body::Continuation { fragment: 0..len },
        _ => Body::Unknown,
    }
}

fn be32(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_be_bytes)
}

fn priority_at(p: &[u8], at: usize) -> Option<Priority> {
    let dep = p.get(at..at + 4)?;
    let w = *p.get(at + 4)?;
    let raw = u32::from_be_bytes(dep.try_into().ok()?);
    Some(Priority { exclusive: raw & 0x8000_0000 != 0, depends_on: raw & 0x7fff_ffff, weight: u16::from(w) + 1 })
}

/// Removes padding (§6.1): returns the pad length and the range after
/// `fixed` fixed bytes that follow the pad-length byte.
fn strip_padding(h: &FrameHeader, p: &[u8], fixed: usize) -> Result<(Option<u8>, Range<usize>), FrameError> {
    let len = p.len();
    if !h.has(flags::PADDED) {
        if len < fixed {
            return Err(FrameError::ShorterThanFixed { len, fixed });
        }
        return Ok((None, fixed..len));
    }
    let pad = *p.first().ok_or(FrameError::NoPadLength)?;
    let start = 1 + fixed;
    let end =
        len.checked_sub(usize::from(pad)).filter(|e| *e >= start).ok_or(FrameError::PaddingTooLong { pad, len })?;
    Ok((Some(pad), start..end))
}

fn settings(h: &FrameHeader, p: &[u8]) -> Body {
    let ack = h.has(flags::ACK);
    if ack && !p.is_empty() {
        return Body::Malformed(FrameError::SettingsAckNotEmpty);
    }
    if !p.len().is_multiple_of(6) {
        return Body::Malformed(FrameError::SettingsLength { len: p.len() });
    }
    let params = p
        .chunks_exact(6)
        .filter_map(|c| match *c {
            [a, b, v0, v1, v2, v3] => Some((u16::from_be_bytes([a, b]), u32::from_be_bytes([v0, v1, v2, v3]))),
            _ => None,
        })
        .collect();
    Body::Settings { ack, params }
}

/// SETTINGS parameter names (§6.5.2 and registered extensions).
pub fn setting_name(id: u16) -> String {
    match id {
        setting::HEADER_TABLE_SIZE => "HEADER_TABLE_SIZE".into(),
        setting::ENABLE_PUSH => "ENABLE_PUSH".into(),
        setting::MAX_CONCURRENT_STREAMS => "MAX_CONCURRENT_STREAMS".into(),
        setting::INITIAL_WINDOW_SIZE => "INITIAL_WINDOW_SIZE".into(),
        setting::MAX_FRAME_SIZE => "MAX_FRAME_SIZE".into(),
        setting::MAX_HEADER_LIST_SIZE => "MAX_HEADER_LIST_SIZE".into(),
        setting::ENABLE_CONNECT_PROTOCOL => "ENABLE_CONNECT_PROTOCOL".into(),
        setting::NO_RFC7540_PRIORITIES => "NO_RFC7540_PRIORITIES".into(),
        n => format!("UNKNOWN_0x{n:x}"),
    }
}

/// SETTINGS identifiers (RFC 9113 §6.5.2, RFC 8441, RFC 9218), and gRPC's own.
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441).
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
    /// SETTINGS_NO_RFC7540_PRIORITIES (RFC 9218).
    pub const NO_RFC7540_PRIORITIES: u16 = 0x9;
    /// gRPC C-core's GRPC_ALLOW_TRUE_BINARY_METADATA.
    pub const GRPC_TRUE_BINARY: u16 = 0xfe03;
}

/// Error code names (§7); the table lives with the exchange's reset cause.
pub fn error_name(code: u32) -> String {
    crate::exchange::http2_error_name(code)
}

/// The header block of a HEADERS frame a client of ours received: padding
/// and priority removed (lengths already checked by slicing within bounds).
pub fn header_block(h: &FrameHeader, p: &bytes::Bytes) -> bytes::Bytes {
    let mut start = 0usize;
    let mut end = p.len();
    if h.has(flags::PADDED) {
        let pad = p.first().copied().unwrap_or(0) as usize;
        start = 1;
        end = end.saturating_sub(pad);
    }
    if h.has(flags::PRIORITY) {
        start += 5;
    }
    p.slice(start.min(end)..end)
}

/// The data of a DATA frame: padding removed.
pub fn data_payload(h: &FrameHeader, p: &bytes::Bytes) -> bytes::Bytes {
    if !h.has(flags::PADDED) {
        return p.clone();
    }
    let pad = p.first().copied().unwrap_or(0) as usize;
    let end = p.len().saturating_sub(pad);
    p.slice(1.min(end)..end)
}

#[cfg(test)]
mod tests;
