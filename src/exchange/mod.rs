//! Protocol-neutral exchanges: what an application protocol (HTTP/2 today,
//! HTTP/1.1 later) tells the layers above it about one request and its
//! response, whatever carried them.
//!
//! An exchange is one HTTP/2 stream, or one HTTP/1.1 request/response pair.
//! Its events are heads (header blocks), body chunks, ends and resets; the
//! protocol's own facts (a stream id, a RST_STREAM code, a GOAWAY) travel as
//! typed attributes here, so that the gRPC layer never names an HTTP/2 type.
//! Every event keeps where its bytes were captured ([`Span`]), so a consumer
//! can point back at the packets even when a layer in between transformed
//! the bytes (decryption, decompression).

use crate::tcp::{ConnId, Dir, Side};
use crate::time::Timestamp;
use bytes::Bytes;
use serde::Serialize;
use std::any::Any;
use std::ops::Range;
use std::sync::Arc;

/// What a connection's bytes turned out to carry (decided by the decoder
/// chain's detector, or by an application protocol that found its framing
/// in a capture begun mid-connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Not decided yet.
    Unknown,
    /// HTTP/2 in clear text.
    Http2,
    /// A TLS session (encrypted: not decodable).
    Tls,
    /// HTTP/1.x.
    Http1,
    /// Something else.
    Other,
}

impl Protocol {
    /// The protocol's name as printed (`http2`, `tls`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Unknown => "unknown",
            Protocol::Http2 => "http2",
            Protocol::Tls => "tls",
            Protocol::Http1 => "http1",
            Protocol::Other => "other",
        }
    }
}

/// A header field as an exchange carries it; `None` parts were not
/// recoverable (e.g. an HPACK entry inserted before the capture began).
pub type HeaderPair = (Option<Bytes>, Option<Bytes>);

/// A header-compression entry inserted before the capture saw its table
/// (the capture began mid-connection, or lost the bytes that inserted
/// it). Its content is unknown, but every reference to it names the same
/// entry: a variable, never a guess. Slot `n` of the first epoch is the
/// entry that sat at HPACK index `61 + n` when the table became unknown;
/// a later loss of bytes starts a new epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Slot {
    /// 0 for entries from before the capture; 1, 2, ... after each later loss.
    pub epoch: u32,
    /// Position in the unknown part of the table when it became unknown, from 1.
    pub number: u32,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.epoch {
            0 => write!(f, "?dyn#{}", self.number),
            e => write!(f, "?dyn#{}.{}", e, self.number),
        }
    }
}

impl Slot {
    /// Where the entry came from, for a reader.
    pub fn origin(&self) -> &'static str {
        match self.epoch {
            0 => "inserted before the capture",
            _ => "inserted in bytes the capture lost",
        }
    }
}

/// Where some decoded bytes were captured: a range of one direction's TCP
/// byte stream, and the packet that completed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Direction of the byte stream.
    pub dir: Dir,
    /// Offset of the first byte in that stream.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Number of the packet holding the last byte (0 when the layer that
    /// made the span did not record it: earlier fragments of a header block).
    pub packet: u64,
}

/// Captured bytes that a layer below the application protocol transformed
/// into the bytes it decoded: one TLS record, decrypted. A decoded range
/// that came through carriers is found in the capture through them
/// ([`Carrier::captured`]), byte for byte: the AEAD suites TLS uses for
/// HTTP/2 keep each plaintext byte at a fixed place in its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    /// Which record of its direction (0 for the first, handshake included).
    pub seq: u64,
    /// The record's header and body in the direction's TCP byte stream.
    pub span: Span,
    /// The packet holding the record's first byte (`span.packet` holds its last).
    pub first_packet: u64,
    /// The plaintext the record carried, as a range of the decrypted stream
    /// the layer above reads.
    pub plain: Range<u64>,
    /// Where that plaintext's first byte sits in the record (after the
    /// 5-byte header, and TLS 1.2's explicit nonce).
    pub plain_at: u32,
    /// The record as captured (header and ciphertext), kept only when the
    /// chain was asked to (the terminal UI shows it beside the plaintext).
    pub captured_bytes: Option<Bytes>,
}

impl Carrier {
    /// Where plaintext byte `at` of the decrypted stream was captured: its
    /// offset in the TCP byte stream, when this record carried it.
    pub fn captured(&self, at: u64) -> Option<u64> {
        self.plain.contains(&at).then(|| self.span.offset + u64::from(self.plain_at) + (at - self.plain.start))
    }

    /// The part of `plain` (a range of the decrypted stream) this record
    /// carried, as a range of the decrypted stream.
    pub fn overlap(&self, plain: &Range<u64>) -> Option<Range<u64>> {
        let r = self.plain.start.max(plain.start)..self.plain.end.min(plain.end);
        (r.start < r.end).then_some(r)
    }
}

/// The captured range, in `dir`'s TCP byte stream, that holds decrypted
/// range `plain`: from the record of its first byte to the record of its
/// last (record headers and tags between them included); an empty range is
/// an empty span where its first byte would be. `None` when the carriers
/// do not cover both ends.
pub fn captured_span(carriers: &[Arc<Carrier>], plain: &Range<u64>) -> Option<Span> {
    let first = carriers.iter().find_map(|c| c.captured(plain.start))?;
    let Some(last_byte) = plain.end.checked_sub(1).filter(|l| *l >= plain.start) else {
        let c = carriers.iter().find(|c| c.plain.contains(&plain.start))?;
        return Some(Span { dir: c.span.dir, offset: first, len: 0, packet: c.span.packet });
    };
    let (last, packet) = carriers.iter().find_map(|c| Some((c.captured(last_byte)?, c.span.packet)))?;
    let dir = carriers.first()?.span.dir;
    Some(Span { dir, offset: first, len: (last + 1).saturating_sub(first), packet })
}

/// The record an application protocol keeps of a head, for viewers that
/// know that protocol (the TUI and `explain` show an HTTP/2 head's HPACK
/// encoding from it). Opaque to the gRPC layer.
pub type WireRecord = Arc<dyn Any + Send + Sync>;

/// A head: a request's or response's header block, or trailers.
#[derive(Clone)]
pub struct Head {
    /// Fields in wire order, duplicates kept.
    pub fields: Vec<HeaderPair>,
    /// Where the head's bytes were captured (one span per fragment).
    pub spans: Vec<Span>,
    /// For fields whose name or value is unknown (`None` in `fields`):
    /// (the field's position, the entry it refers to).
    pub slots: Vec<(usize, Slot)>,
    /// Fields decoded but not kept because the head passed a size limit:
    /// what they said is unknown.
    pub dropped: usize,
    /// The protocol's own record of the head.
    pub wire: Option<WireRecord>,
    /// What the protocol layer found wrong with how this head opened its
    /// exchange (a reused or even HTTP/2 stream id): the call keeps it.
    pub notes: Vec<crate::notes::Note>,
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head").field("fields", &self.fields).field("spans", &self.spans).finish_non_exhaustive()
    }
}

impl Head {
    /// The protocol's record of this head, when it is a `T`.
    pub fn wire<T: Any>(&self) -> Option<&T> {
        self.wire.as_deref().and_then(|w| (w as &dyn Any).downcast_ref::<T>())
    }
}

/// Why an exchange was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum ResetCause {
    /// An HTTP/2 RST_STREAM (RFC 9113 §6.4).
    Http2 {
        /// Its error code (RFC 9113 §7).
        error_code: u32,
    },
}

impl ResetCause {
    /// The error code's name: `CANCEL`, `REFUSED_STREAM`, ...
    pub fn name(&self) -> String {
        match self {
            ResetCause::Http2 { error_code } => http2_error_name(*error_code),
        }
    }
}

/// The name of an HTTP/2 error code (RFC 9113 §7): the one table of them,
/// used by RST_STREAM and GOAWAY alike.
pub fn http2_error_name(code: u32) -> String {
    let known = match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        n => return format!("UNKNOWN_ERROR_0x{n:x}"),
    };
    known.to_string()
}

/// Where and when an exchange event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// Connection.
    pub conn: ConnId,
    /// Direction of the bytes that carried it.
    pub dir: Dir,
    /// Time of the packet that completed it.
    pub ts: Timestamp,
    /// That packet's number.
    pub packet: u64,
}

/// What an application protocol tells the layers above about its exchanges.
#[derive(Debug, Clone)]
pub enum ExchangeEvent {
    /// Exchange `id` is under way: a fragment of a head was seen (the head
    /// itself completes later).
    Begun {
        /// Where.
        at: At,
        /// The exchange (for HTTP/2, the stream id).
        id: u32,
    },
    /// A complete head from `at.dir`'s sender: the first from the client is
    /// the request head; from the server, the response head, or its
    /// trailers when it is not the first (RFC 9110 §6).
    Head {
        /// Where.
        at: At,
        /// The exchange.
        id: u32,
        /// The head.
        head: Arc<Head>,
        /// The sender's side ends with it.
        end: bool,
    },
    /// A head of the exchange was not captured (its bytes fell in a gap).
    HeadLost {
        /// Where.
        at: At,
        /// The exchange.
        id: u32,
    },
    /// A chunk of body.
    Body {
        /// Where.
        at: At,
        /// The exchange.
        id: u32,
        /// The bytes (zero-filled where not captured).
        data: Bytes,
        /// The part of `data` that was never captured.
        missing: Option<Range<usize>>,
        /// Where `data` was captured (`None` when the TLS records that
        /// carried it were not all kept).
        span: Option<Span>,
        /// The sender's side ends with it.
        end: bool,
    },
    /// The exchange was reset by `from`.
    Reset {
        /// Where.
        at: At,
        /// The exchange.
        id: u32,
        /// Who reset it.
        from: Side,
        /// Why.
        cause: ResetCause,
    },
    /// The server will process no exchange above `last_id` (an HTTP/2
    /// GOAWAY): those not yet answered were never processed.
    Refused {
        /// Where.
        at: At,
        /// The last exchange the server may have processed.
        last_id: u32,
    },
    /// Bytes of `at.dir` were lost where exchange boundaries lie: exchanges
    /// under way may miss parts.
    Lost {
        /// Where.
        at: At,
    },
}

impl ExchangeEvent {
    /// Where the event happened.
    pub fn at(&self) -> &At {
        match self {
            ExchangeEvent::Begun { at, .. }
            | ExchangeEvent::Head { at, .. }
            | ExchangeEvent::HeadLost { at, .. }
            | ExchangeEvent::Body { at, .. }
            | ExchangeEvent::Reset { at, .. }
            | ExchangeEvent::Refused { at, .. }
            | ExchangeEvent::Lost { at } => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record at TCP offset `tcp` carrying plaintext `plain`, 5 header
    /// bytes before it and a 16-byte tag after.
    fn record(seq: u64, tcp: u64, plain: Range<u64>) -> Arc<Carrier> {
        let len = 5 + (plain.end - plain.start) + 16;
        Arc::new(Carrier {
            seq,
            span: Span { dir: Dir::ToClient, offset: tcp, len, packet: 10 + seq },
            first_packet: 10 + seq,
            plain,
            plain_at: 5,
            captured_bytes: None,
        })
    }

    #[test]
    fn a_decrypted_range_maps_back_through_its_records() {
        // Records of 100 and 50 plaintext bytes, back to back at TCP offset 1000.
        let a = record(3, 1000, 0..100);
        let b = record(4, 1000 + 121, 100..150);
        assert_eq!(a.captured(0), Some(1005));
        assert_eq!(a.captured(99), Some(1104));
        assert_eq!(a.captured(100), None, "not this record's byte");
        assert_eq!(b.captured(100), Some(1126));
        // Within one record: exact.
        let one = captured_span(std::slice::from_ref(&a), &(10..20)).unwrap();
        assert_eq!((one.offset, one.len, one.packet), (1015, 10, 13));
        // Across two: from the first byte to the last, the second record's
        // header and the first's tag between them.
        let both = captured_span(&[a.clone(), b.clone()], &(90..110)).unwrap();
        assert_eq!((both.offset, both.len, both.packet), (1095, 1135 - 1095 + 1, 14));
        // A range whose records were not all kept has no span.
        assert_eq!(captured_span(&[b], &(90..110)), None);
        let empty = captured_span(&[a], &(5..5)).unwrap();
        assert_eq!((empty.offset, empty.len), (1010, 0), "an empty range is where its byte would be");
    }
}
