//! gRPC over HTTP/2: streams become calls with headers, length-prefixed
//! messages, status and trailers, and the verdict that matters most: did
//! the application fail the call, or the transport underneath it?

pub mod message;
pub mod status;
mod tracker;

use crate::exchange::{Head, Slot};
use crate::notes::Note;
use crate::tcp::{ConnId, EndReason, Side};
use crate::time::Timestamp;
use bytes::Bytes;
use serde::Serialize;
use std::net::SocketAddr;

pub use message::{Codec, Message, MessageLimits};
pub use tracker::{CallTracker, GrpcEvent};

pub use crate::exchange::HeaderPair;

/// Where a call's failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// No failure (OK), or none seen.
    None,
    /// The server's application chose a non-OK `grpc-status`.
    Application,
    /// HTTP/2 or the network failed the call: a non-200 `:status`, a
    /// RST_STREAM, a GOAWAY, missing trailers, a closed connection.
    Transport,
    /// The call ended but its status cannot be read: its header fields
    /// refer to HPACK entries the capture never showed, or bytes that could
    /// have carried it were lost. (An addition to the three values of the
    /// calls contract: saying "none" here would claim an OK never seen.)
    Unknown,
}

/// The transport-level reason a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// A `:status` other than 200 (typically a proxy's answer).
    HttpStatus,
    /// The stream was reset.
    RstStream,
    /// A GOAWAY excluded the stream (it was never processed).
    Goaway,
    /// The response ended without `grpc-status`.
    MissingTrailers,
    /// The TCP connection closed (FIN) while the call was open.
    ConnectionClosed,
    /// The TCP connection was reset while the call was open.
    ConnectionReset,
}

/// Details of a transport failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransportError {
    /// What failed.
    pub kind: TransportKind,
    /// In a sentence.
    pub detail: String,
    /// The status a gRPC client most likely reported for it.
    pub implied_status: u32,
    /// Its name.
    pub implied_status_name: &'static str,
}

/// What identifies the method of a call whose `:path` was not decoded
/// because it refers to an HPACK entry inserted before the capture: calls
/// of one connection with the same key called the same method, even when
/// its name is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MethodKey {
    /// `:path` is this unknown entry: the only unknown field of the
    /// request, or the only unknown pseudo-header beside a decoded
    /// `:method`, `:scheme` and `:authority` (pseudo-headers come first,
    /// RFC 9113 §8.3).
    Path(Slot),
    /// `:path` is one of these unknown entries (which one, the capture does
    /// not say): an entry has one name, so calls with the same set share
    /// their `:path`.
    OneOf(Vec<Slot>),
}

impl std::fmt::Display for MethodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MethodKey::Path(s) => write!(f, "{s}"),
            // Compact, for a table column: `?dyn#{1-5,7}` (slots are sorted).
            MethodKey::OneOf(v) => {
                let mut epochs: Vec<String> = Vec::new();
                for chunk in v.chunk_by(|a, b| a.epoch == b.epoch) {
                    let numbers: Vec<u32> = chunk.iter().map(|s| s.number).collect();
                    let ranges: Vec<String> = numbers
                        .chunk_by(|a, b| a.checked_add(1) == Some(*b))
                        .map(|r| match r {
                            [one] => one.to_string(),
                            [first, .., last] => format!("{first}-{last}"),
                            [] => String::new(),
                        })
                        .collect();
                    let epoch = chunk.first().map_or(0, |s| s.epoch);
                    let prefix = if epoch == 0 { "?dyn#".to_string() } else { format!("?dyn#{epoch}.") };
                    epochs.push(format!("{prefix}{{{}}}", ranges.join(",")));
                }
                f.write_str(&epochs.join("+"))
            }
        }
    }
}

/// The evidence a call's method rests on (calls JSON `method_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodSource {
    /// The decoded `:path`.
    Header,
    /// The same request bytes were seen on another connection of the
    /// capture whose `:path` was decoded.
    Peer,
    /// Of the schema's methods exactly one fits every call sharing the
    /// `:path` entry: types, wire types, no unknown fields, streaming kind.
    Schema,
}

/// A method identified without a decoded `:path`, or the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodInference {
    /// The method, when the evidence names exactly one.
    pub method: Option<String>,
    /// Its evidence (`Peer` or `Schema`).
    pub source: MethodSource,
    /// Every method that fits, when more than one does.
    pub candidates: Vec<String>,
}

/// A RST_STREAM that ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RstInfo {
    /// HTTP/2 error code.
    pub error_code: u32,
    /// Who sent it.
    pub from: Side,
    /// When.
    pub ts: Timestamp,
}

/// A head's fields in wire order, duplicates kept. Shared, not copied:
/// calls with the same headers (a list of a million calls to one method)
/// may hold one list between them.
pub type HeaderList = std::sync::Arc<[HeaderPair]>;

/// One gRPC call: one HTTP/2 stream that carried gRPC.
#[derive(Debug, Clone)]
pub struct Call {
    /// Connection.
    pub conn: ConnId,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// HTTP/2 stream id.
    pub stream_id: u32,
    /// Time of its first frame.
    pub start: Timestamp,
    /// Time of the frame that ended it, when seen.
    pub end: Option<Timestamp>,
    /// Time of the first frame from the server.
    pub first_response: Option<Timestamp>,
    /// Request header block, in wire order.
    pub request_headers: HeaderList,
    /// Whether the request headers were captured at all.
    pub request_headers_seen: bool,
    /// Response header block (empty for Trailers-Only).
    pub response_headers: HeaderList,
    /// Trailers (for Trailers-Only, the single response block).
    pub trailers: HeaderList,
    /// The response was Trailers-Only (one HEADERS with END_STREAM).
    pub trailers_only: bool,
    /// Messages from the client.
    pub requests: Vec<Message>,
    /// Messages from the server.
    pub responses: Vec<Message>,
    /// END_STREAM from the client was seen.
    pub request_ended: bool,
    /// END_STREAM from the server was seen.
    pub response_ended: bool,
    /// A RST_STREAM, if one ended the call.
    pub rst: Option<RstInfo>,
    /// A GOAWAY excluded this stream: (its last stream id, when).
    pub goaway: Option<(u32, Timestamp)>,
    /// The connection ended while the call was open.
    pub connection_end: Option<EndReason>,
    /// DATA bytes each way (client→server, server→client).
    pub bytes: [u64; 2],
    /// Bytes of the connection were lost in each direction while the call was open.
    pub lost: [bool; 2],
    /// The response was not gRPC (its content-type says so, e.g. a proxy's
    /// HTML error page): the start of its body, which is not parsed as messages.
    pub response_body: Option<Bytes>,
    /// The heads as the protocol layer gave them (request, response,
    /// trailers): their wire records show each field's encoding and bytes
    /// in the UI and `explain`.
    pub blocks: [Option<std::sync::Arc<Head>>; 3],
    /// Problems seen on this call.
    pub notes: Vec<Note>,
    /// The method found from other evidence when `:path` was an unknown
    /// entry (set by the layer that sees the whole capture and the schema).
    pub inferred: Option<MethodInference>,
}

impl Call {
    /// A call on stream `stream_id` of `conn` first seen at `start`, with
    /// nothing known of it yet.
    pub fn new(conn: ConnId, client: SocketAddr, server: SocketAddr, stream_id: u32, start: Timestamp) -> Call {
        Call {
            conn,
            client,
            server,
            stream_id,
            start,
            end: None,
            first_response: None,
            request_headers: HeaderList::default(),
            request_headers_seen: false,
            response_headers: HeaderList::default(),
            trailers: HeaderList::default(),
            trailers_only: false,
            requests: Vec::new(),
            responses: Vec::new(),
            request_ended: false,
            response_ended: false,
            rst: None,
            goaway: None,
            connection_end: None,
            bytes: [0; 2],
            lost: [false; 2],
            response_body: None,
            blocks: [None, None, None],
            notes: Vec::new(),
            inferred: None,
        }
    }

    pub(crate) fn header<'a>(list: &'a [HeaderPair], name: &str) -> Option<&'a Bytes> {
        list.iter().find(|(n, _)| n.as_deref() == Some(name.as_bytes())).and_then(|(_, v)| v.as_ref())
    }

    fn header_str(list: &[HeaderPair], name: &str) -> Option<String> {
        Self::header(list, name).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// `:path` without a copy, when it is UTF-8.
    pub fn method_str(&self) -> Option<&str> {
        Self::header(&self.request_headers, ":path").and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `:path`, e.g. `/pkg.Service/Method`.
    pub fn method(&self) -> Option<String> {
        Self::header_str(&self.request_headers, ":path")
    }

    /// The method and the evidence it rests on: the decoded `:path`, or an
    /// inference that names exactly one method.
    pub fn resolved_method(&self) -> Option<(std::borrow::Cow<'_, str>, MethodSource)> {
        if let Some(p) = Self::header(&self.request_headers, ":path") {
            return Some((String::from_utf8_lossy(p), MethodSource::Header));
        }
        let inf = self.inferred.as_ref()?;
        Some((std::borrow::Cow::Borrowed(inf.method.as_deref()?), inf.source))
    }

    /// What identifies this call's method when `:path` refers to an entry
    /// inserted before the capture; `None` when `:path` was decoded (or
    /// is missing for another reason).
    pub fn method_key(&self) -> Option<MethodKey> {
        if Self::header(&self.request_headers, ":path").is_some() {
            return None;
        }
        let head = self.blocks.first()?.as_ref()?;
        let nameless: Vec<(usize, Slot)> =
            head.slots.iter().copied().filter(|(i, _)| head.fields.get(*i).is_some_and(|(n, _)| n.is_none())).collect();
        if let [(_, only)] = nameless.as_slice() {
            return Some(MethodKey::Path(*only));
        }
        let known = |name: &str| Self::header(&self.request_headers, name).is_some();
        let last_pseudo = head.fields.iter().rposition(|(n, _)| n.as_ref().is_some_and(|n| n.starts_with(b":")));
        let pseudo: Vec<Slot> =
            nameless.iter().filter(|(i, _)| last_pseudo.is_some_and(|l| *i < l)).map(|(_, s)| *s).collect();
        if let ([only], true) = (pseudo.as_slice(), known(":method") && known(":scheme") && known(":authority")) {
            return Some(MethodKey::Path(*only));
        }
        let mut all: Vec<Slot> = nameless.into_iter().map(|(_, s)| s).collect();
        all.sort_unstable();
        all.dedup();
        (!all.is_empty()).then_some(MethodKey::OneOf(all))
    }

    /// `:authority`.
    pub fn authority(&self) -> Option<String> {
        Self::header_str(&self.request_headers, ":authority")
    }

    /// The block that carries the status: the trailers (or Trailers-Only block).
    fn status_block(&self) -> &[HeaderPair] {
        &self.trailers
    }

    /// `:status` of the response.
    pub fn http_status(&self) -> Option<u16> {
        let v = Self::header(self.status_head(), ":status")?;
        // RFC 9113 §8.3.2: three digits, nothing else.
        (v.len() == 3 && v.iter().all(u8::is_ascii_digit)).then(|| std::str::from_utf8(v).ok()?.parse().ok())?
    }

    /// The head that carries `:status`: the response headers, or the
    /// trailers of a Trailers-Only response.
    fn status_head(&self) -> &[HeaderPair] {
        if self.trailers_only || self.response_headers.is_empty() {
            &self.trailers
        } else {
            &self.response_headers
        }
    }

    /// A `:status` that is there but is not a three-digit code, as sent.
    pub fn malformed_http_status(&self) -> Option<String> {
        let v = Self::header(self.status_head(), ":status")?;
        self.http_status().is_none().then(|| format!("{:?}", String::from_utf8_lossy(v)))
    }

    /// The numeric `grpc-status` as a client takes it: the last one sent
    /// (grpc-go and grpc-java), and INTERNAL (13) when it is not a number
    /// gRPC accepts, as grpc-go reports it (the call carries a note).
    pub fn grpc_status(&self) -> Option<u32> {
        let last = self
            .status_block()
            .iter()
            .rev()
            .find(|(n, _)| n.as_deref() == Some(&b"grpc-status"[..]))
            .and_then(|(_, v)| v.as_ref())?;
        Some(status::parse_status(last).unwrap_or(13))
    }

    /// `grpc-message`, percent-decoded.
    pub fn grpc_message(&self) -> Option<String> {
        Self::header(self.status_block(), "grpc-message").map(|v| status::percent_decode(v))
    }

    /// The status message says a message was over a size limit (the words
    /// gRPC implementations use for RESOURCE_EXHAUSTED on a large message).
    pub fn status_says_too_large(&self) -> bool {
        self.grpc_message().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("larger than") || m.contains("too large")
        })
    }

    /// The raw bytes of `grpc-status-details-bin` (a serialized google.rpc.Status).
    pub fn status_details(&self) -> Option<Vec<u8>> {
        Self::header(self.status_block(), "grpc-status-details-bin").and_then(|v| status::decode_bin(v)).map(|(b, _)| b)
    }

    /// `content-type` of the request.
    pub fn content_type(&self) -> Option<String> {
        Self::header_str(&self.request_headers, "content-type")
    }

    /// `content-type` of the response (its headers, or the Trailers-Only block).
    pub fn response_content_type(&self) -> Option<String> {
        Self::header_str(&self.response_headers, "content-type")
            .or_else(|| Self::header_str(&self.trailers, "content-type"))
    }

    /// `content-type` of the response as sent, without a copy.
    pub fn response_content_type_bytes(&self) -> Option<&Bytes> {
        Self::header(&self.response_headers, "content-type").or_else(|| Self::header(&self.trailers, "content-type"))
    }

    /// `grpc-timeout` in nanoseconds.
    pub fn timeout_nanos(&self) -> Option<u64> {
        Self::header(&self.request_headers, "grpc-timeout").and_then(|v| status::parse_timeout(v))
    }

    /// `grpc-previous-rpc-attempts`: the attempts of this call the client's
    /// retry policy made before this one.
    pub fn previous_attempts(&self) -> Option<u32> {
        Self::header(&self.request_headers, "grpc-previous-rpc-attempts")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse().ok())
    }

    /// `grpc-encoding` of the requests (client→server) or responses.
    pub fn encoding(&self, from_client: bool) -> Option<String> {
        let list = if from_client { &self.request_headers } else { &self.response_headers };
        Self::header_str(list, "grpc-encoding")
    }

    /// The status name to show and filter on: `grpc-status` when sent, else
    /// the status a transport failure implies; `None` when unknown.
    pub fn effective_status(&self) -> Option<&'static str> {
        match self.verdict() {
            (_, Some(t)) => Some(t.implied_status_name),
            (Origin::Unknown, _) => None,
            _ => self.grpc_status().and_then(status::status_name),
        }
    }

    /// The packet of the last header block seen (trailers, else the
    /// response head, else the request head): the frame that shows how the
    /// call ended, as far as the capture holds it; 0 when none was seen.
    pub fn outcome_packet(&self) -> u64 {
        self.blocks.iter().rev().flatten().find_map(|h| h.spans.last()).map_or(0, |s| s.packet)
    }

    /// The call's end was seen in both directions, or it was reset.
    pub fn complete(&self) -> bool {
        (self.request_ended && self.response_ended) || self.rst.is_some()
    }

    /// Duration in nanoseconds, when both its start (the request head)
    /// and its end were seen: a call begun before the capture has none.
    pub fn duration_nanos(&self) -> Option<i64> {
        self.end.filter(|_| self.request_headers_seen).map(|e| e.nanos_since(self.start))
    }

    /// Where a failure came from, and the transport reason if it was the transport.
    pub fn verdict(&self) -> (Origin, Option<TransportError>) {
        let transport = |kind, detail: String, code: u32| {
            let name = status::status_name(code).unwrap_or("UNKNOWN");
            (Origin::Transport, Some(TransportError { kind, detail, implied_status: code, implied_status_name: name }))
        };
        if let Some(raw) = self.malformed_http_status() {
            // grpc-go fails the call at once: "malformed http-status".
            return transport(
                TransportKind::HttpStatus,
                format!("malformed :status {raw} (not a three-digit code): gRPC clients fail the call as INTERNAL"),
                13,
            );
        }
        let http = self.http_status();
        if let Some(h) = http.filter(|h| *h != 200) {
            // gRPC servers always answer 200: anything else came from something in between.
            let code = self.grpc_status().unwrap_or_else(|| status::from_http_status(h));
            return transport(
                TransportKind::HttpStatus,
                format!("HTTP {h} instead of 200 (not a gRPC server's answer: a proxy or load balancer)"),
                code,
            );
        }
        if let Some(code) = self.grpc_status() {
            return (if code == 0 { Origin::None } else { Origin::Application }, None);
        }
        if let Some(rst) = &self.rst {
            return self.rst_verdict(rst);
        }
        if self.status_unreadable() {
            // The status may have been in what we could not read: say so rather than blame the transport.
            return (Origin::Unknown, None);
        }
        if let Some((last, _)) = self.goaway {
            return transport(
                TransportKind::Goaway,
                format!(
                    "the server's GOAWAY (last stream {last}) excluded stream {}: never processed, safe to retry",
                    self.stream_id
                ),
                14,
            );
        }
        if let Some(end) = self.connection_end.filter(|e| e.is_closed()) {
            let (kind, what) = match end {
                EndReason::Rst { by } => (
                    TransportKind::ConnectionReset,
                    format!("the TCP connection was reset by the {by} during the call"),
                ),
                EndReason::Fin { by, .. } => (
                    TransportKind::ConnectionClosed,
                    format!("the TCP connection was closed by the {by} during the call"),
                ),
                other => {
                    (TransportKind::ConnectionClosed, format!("the TCP connection ended ({other}) during the call"))
                }
            };
            return transport(kind, what, 14);
        }
        if self.response_ended {
            return transport(TransportKind::MissingTrailers, "the response ended without grpc-status".into(), 2);
        }
        (Origin::None, None)
    }

    /// The status may exist but cannot be read: an unknown header field in
    /// the response, or response bytes lost while the call was open.
    fn status_unreadable(&self) -> bool {
        self.status_unknown_reason().is_some()
    }

    /// Why the status cannot be read, when it cannot: the response's heads
    /// refer to HPACK entries from before the capture, lost fields to a
    /// size limit, or bytes of the server that could have carried it were
    /// lost. Such a status is unknown, never an error.
    pub fn status_unknown_reason(&self) -> Option<String> {
        for (i, what) in [(2, "trailers"), (1, "response headers")] {
            let Some(head) = self.blocks.get(i).and_then(|b| b.as_ref()) else { continue };
            if let Some((_, slot)) = head.slots.first() {
                return Some(format!("status not captured: the {what} refer to HPACK entry {slot}, {}", slot.origin()));
            }
            if head.dropped > 0 {
                return Some(format!(
                    "status unreadable: {} field(s) of the {what} were dropped by a header limit (--max-header-list, --max-open-headers)",
                    head.dropped
                ));
            }
        }
        let unknown = |l: &[HeaderPair]| l.iter().any(|(n, v)| n.is_none() || v.is_none());
        if unknown(&self.trailers) || unknown(&self.response_headers) {
            return Some("status not captured: the response refers to HPACK entries the capture never showed".into());
        }
        self.lost[1].then(|| {
            "status not captured: bytes from the server were lost while the call was open (a capture gap); its end may lie in them".into()
        })
    }

    fn rst_verdict(&self, rst: &RstInfo) -> (Origin, Option<TransportError>) {
        let name = crate::exchange::ResetCause::Http2 { error_code: rst.error_code }.name();
        let mut code = status::from_rst_code(rst.error_code);
        let mut detail = format!("RST_STREAM {name} from the {}", rst.from);
        if let (Some(timeout), Side::Client, 0x8) = (self.timeout_nanos(), rst.from, rst.error_code) {
            let elapsed = rst.ts.nanos_since(self.start);
            // A client cancels at its deadline: within a few percent of grpc-timeout.
            if elapsed as f64 >= timeout as f64 * 0.95 {
                code = 4;
                detail = format!(
                    "the client cancelled (RST_STREAM CANCEL) {} after the call began: its {} deadline (grpc-timeout) had expired",
                    crate::time::human_duration(elapsed),
                    crate::time::human_duration(timeout as i64)
                );
            }
        }
        let name = status::status_name(code).unwrap_or("UNKNOWN");
        (
            Origin::Transport,
            Some(TransportError {
                kind: TransportKind::RstStream,
                detail,
                implied_status: code,
                implied_status_name: name,
            }),
        )
    }
}
#[cfg(test)]
mod tests;
