//! Notes: the problems and remarks every layer attaches to what it
//! decodes (a frame, a call, a connection), each under a stable code.
//!
//! The codes are one enum, shared by the layers that raise them, the
//! statistics that count them and the printers that explain them, so that no
//! layer compares another's strings. Their text form (`snake_case`) is a
//! user-facing contract: JSON output, `stats` counters and docs/robustness.md
//! use it.

use serde::Serialize;
use std::fmt;

/// How serious a note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth knowing (a resynchronisation, an assumption made).
    Info,
    /// Something unusual or a limit hit.
    Warning,
    /// A protocol violation or a decoding failure.
    Error,
}

/// A problem or remark attached to a frame (or a call, a connection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Severity.
    pub level: Level,
    /// A stable identifier, e.g. `bad_padding`, `continuation_flood`.
    pub code: NoteCode,
    /// What happened, in a sentence.
    pub text: String,
}

impl Note {
    /// A note.
    pub fn new(level: Level, code: NoteCode, text: impl Into<String>) -> Self {
        Note { level, code, text: text.into() }
    }
}

/// The stable code of a note. Ordered by its text, so that counters keyed by
/// code print alphabetically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteCode {
    /// DATA or HEADERS after END_STREAM.
    AfterEndStream,
    /// A TCP or IPv4 checksum did not verify (the segment is decoded anyway).
    BadChecksum,
    /// A SETTINGS value outside what RFC 9113 allows.
    BadSetting,
    /// Part of a frame's payload was never captured.
    BytesNotCaptured,
    /// A frame on a stream that was already closed.
    ClosedStream,
    /// Bytes after the last gzip member of a compressed message that are not a gzip member.
    CompressedTrailingData,
    /// SETTINGS, PING or GOAWAY on a stream other than 0.
    ConnectionFrameOnStream,
    /// The request's content-type is missing or not gRPC's.
    ContentType,
    /// A header block grew past --max-header-block over CONTINUATIONs.
    ContinuationFlood,
    /// A CONTINUATION for another stream than the open header block's.
    ContinuationMismatch,
    /// A compressed message inflated past --max-decompressed-size.
    DecompressionLimit,
    /// A client-initiated stream with an even id.
    EvenStream,
    /// A sender exceeded the flow-control window.
    FlowControlError,
    /// A WINDOW_UPDATE broke the flow-control rules.
    FlowControlViolation,
    /// A connection was evicted: the flow table reached --max-connections.
    FlowTableFull,
    /// A frame larger than the receiver's SETTINGS_MAX_FRAME_SIZE.
    FrameTooLarge,
    /// Trailers carried grpc-status more than once.
    GrpcStatusDuplicated,
    /// A grpc-status that is not a number gRPC accepts.
    GrpcStatusMalformed,
    /// Part of a header block was not captured.
    HeaderBlockLost,
    /// A header list passed --max-header-list; later fields were not kept.
    HeaderListLimit,
    /// A header block of the call was not captured.
    HeadersLost,
    /// A header block failed to decode (HPACK).
    HpackError,
    /// A dynamic-table size update past --max-hpack-table.
    HpackTableLimit,
    /// A `:status` that is not a three-digit code.
    HttpStatusMalformed,
    /// The capture ended before the call did.
    Incomplete,
    /// Another frame inside an unfinished header block.
    InterleavedFrame,
    /// A frame whose payload does not parse.
    MalformedFrame,
    /// A request gRPC would reject as malformed (RFC 9113 §8.3): not POST, `:path` missing or repeated, a pseudo-header after a regular one.
    MalformedRequest,
    /// A message longer than --max-message-size.
    MessageTooLarge,
    /// Message boundaries were lost in a capture gap.
    MessagesLost,
    /// The client did not start with the HTTP/2 preface.
    NoPreface,
    /// Header lists past --max-open-headers across open streams; later fields were not kept.
    OpenHeadersLimit,
    /// A CONTINUATION with no header block open.
    OrphanContinuation,
    /// PUSH_PROMISE sent by the client.
    PushFromClient,
    /// TCP bytes ahead of a hole passed the reassembly buffer.
    ReassemblyBufferFull,
    /// A segment held for the other direction's bytes was released unmatched.
    ReorderHoldExpired,
    /// The client sent a second header block.
    RequestTrailers,
    /// The reserved bit of a stream id is set.
    ReservedBit,
    /// The response's content-type is not gRPC (a proxy's page).
    ResponseNotGrpc,
    /// Frame boundaries were found again after lost or missing bytes.
    Resynchronised,
    /// TCP bytes were retransmitted with different content.
    RetransmitConflict,
    /// A TCP RST whose sequence number is outside the receive window (RFC 5961): ignored, as a TCP stack would.
    RstOutsideWindow,
    /// Grpc-status-details-bin does not decode.
    StatusDetails,
    /// A stream id used again.
    StreamIdReused,
    /// A stream past --max-streams was not tracked.
    StreamLimit,
    /// A stream frame on stream 0.
    StreamZero,
    /// Bytes the capture never held (a hole in a TCP direction).
    TcpGap,
    /// A header block began before the previous one ended.
    UnfinishedHeaderBlock,
    /// Header fields refer to HPACK entries the capture never showed.
    UnknownHeaderFields,
    /// A flow-control window passed 2^31-1.
    WindowOverflow,
    /// A WINDOW_UPDATE of 0.
    ZeroWindowIncrement,
}

impl NoteCode {
    /// Every code, in alphabetical order.
    pub const ALL: [NoteCode; 51] = [
        NoteCode::AfterEndStream,
        NoteCode::BadChecksum,
        NoteCode::BadSetting,
        NoteCode::BytesNotCaptured,
        NoteCode::ClosedStream,
        NoteCode::CompressedTrailingData,
        NoteCode::ConnectionFrameOnStream,
        NoteCode::ContentType,
        NoteCode::ContinuationFlood,
        NoteCode::ContinuationMismatch,
        NoteCode::DecompressionLimit,
        NoteCode::EvenStream,
        NoteCode::FlowControlError,
        NoteCode::FlowControlViolation,
        NoteCode::FlowTableFull,
        NoteCode::FrameTooLarge,
        NoteCode::GrpcStatusDuplicated,
        NoteCode::GrpcStatusMalformed,
        NoteCode::HeaderBlockLost,
        NoteCode::HeaderListLimit,
        NoteCode::HeadersLost,
        NoteCode::HpackError,
        NoteCode::HpackTableLimit,
        NoteCode::HttpStatusMalformed,
        NoteCode::Incomplete,
        NoteCode::InterleavedFrame,
        NoteCode::MalformedFrame,
        NoteCode::MalformedRequest,
        NoteCode::MessageTooLarge,
        NoteCode::MessagesLost,
        NoteCode::NoPreface,
        NoteCode::OpenHeadersLimit,
        NoteCode::OrphanContinuation,
        NoteCode::PushFromClient,
        NoteCode::ReassemblyBufferFull,
        NoteCode::ReorderHoldExpired,
        NoteCode::RequestTrailers,
        NoteCode::ReservedBit,
        NoteCode::ResponseNotGrpc,
        NoteCode::Resynchronised,
        NoteCode::RetransmitConflict,
        NoteCode::RstOutsideWindow,
        NoteCode::StatusDetails,
        NoteCode::StreamIdReused,
        NoteCode::StreamLimit,
        NoteCode::StreamZero,
        NoteCode::TcpGap,
        NoteCode::UnfinishedHeaderBlock,
        NoteCode::UnknownHeaderFields,
        NoteCode::WindowOverflow,
        NoteCode::ZeroWindowIncrement,
    ];

    /// The code as printed: `snake_case`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteCode::AfterEndStream => "after_end_stream",
            NoteCode::BadChecksum => "bad_checksum",
            NoteCode::BadSetting => "bad_setting",
            NoteCode::BytesNotCaptured => "bytes_not_captured",
            NoteCode::ClosedStream => "closed_stream",
            NoteCode::CompressedTrailingData => "compressed_trailing_data",
            NoteCode::ConnectionFrameOnStream => "connection_frame_on_stream",
            NoteCode::ContentType => "content_type",
            NoteCode::ContinuationFlood => "continuation_flood",
            NoteCode::ContinuationMismatch => "continuation_mismatch",
            NoteCode::DecompressionLimit => "decompression_limit",
            NoteCode::EvenStream => "even_stream",
            NoteCode::FlowControlError => "flow_control_error",
            NoteCode::FlowControlViolation => "flow_control_violation",
            NoteCode::FlowTableFull => "flow_table_full",
            NoteCode::FrameTooLarge => "frame_too_large",
            NoteCode::GrpcStatusDuplicated => "grpc_status_duplicated",
            NoteCode::GrpcStatusMalformed => "grpc_status_malformed",
            NoteCode::HeaderBlockLost => "header_block_lost",
            NoteCode::HeaderListLimit => "header_list_limit",
            NoteCode::HeadersLost => "headers_lost",
            NoteCode::HpackError => "hpack_error",
            NoteCode::HpackTableLimit => "hpack_table_limit",
            NoteCode::HttpStatusMalformed => "http_status_malformed",
            NoteCode::Incomplete => "incomplete",
            NoteCode::InterleavedFrame => "interleaved_frame",
            NoteCode::MalformedFrame => "malformed_frame",
            NoteCode::MalformedRequest => "malformed_request",
            NoteCode::MessageTooLarge => "message_too_large",
            NoteCode::MessagesLost => "messages_lost",
            NoteCode::NoPreface => "no_preface",
            NoteCode::OpenHeadersLimit => "open_headers_limit",
            NoteCode::OrphanContinuation => "orphan_continuation",
            NoteCode::PushFromClient => "push_from_client",
            NoteCode::ReassemblyBufferFull => "reassembly_buffer_full",
            NoteCode::ReorderHoldExpired => "reorder_hold_expired",
            NoteCode::RequestTrailers => "request_trailers",
            NoteCode::ReservedBit => "reserved_bit",
            NoteCode::ResponseNotGrpc => "response_not_grpc",
            NoteCode::Resynchronised => "resynchronised",
            NoteCode::RetransmitConflict => "retransmit_conflict",
            NoteCode::RstOutsideWindow => "rst_outside_window",
            NoteCode::StatusDetails => "status_details",
            NoteCode::StreamIdReused => "stream_id_reused",
            NoteCode::StreamLimit => "stream_limit",
            NoteCode::StreamZero => "stream_zero",
            NoteCode::TcpGap => "tcp_gap",
            NoteCode::UnfinishedHeaderBlock => "unfinished_header_block",
            NoteCode::UnknownHeaderFields => "unknown_header_fields",
            NoteCode::WindowOverflow => "window_overflow",
            NoteCode::ZeroWindowIncrement => "zero_window_increment",
        }
    }

    /// What the code means, in a line (for `conns` and `stats` legends).
    pub fn meaning(self) -> &'static str {
        match self {
            NoteCode::AfterEndStream => "DATA or HEADERS after END_STREAM",
            NoteCode::BadChecksum => "a TCP or IPv4 checksum did not verify (the segment is decoded anyway)",
            NoteCode::BadSetting => "a SETTINGS value outside what RFC 9113 allows",
            NoteCode::BytesNotCaptured => "part of a frame's payload was never captured",
            NoteCode::ClosedStream => "a frame on a stream that was already closed",
            NoteCode::CompressedTrailingData => "bytes after the last gzip member that are not one",
            NoteCode::ConnectionFrameOnStream => "SETTINGS, PING or GOAWAY on a stream other than 0",
            NoteCode::ContentType => "the request's content-type is missing or not gRPC's",
            NoteCode::ContinuationFlood => "a header block grew past --max-header-block over CONTINUATIONs",
            NoteCode::ContinuationMismatch => "a CONTINUATION for another stream than the open header block's",
            NoteCode::DecompressionLimit => "a compressed message inflated past --max-decompressed-size",
            NoteCode::EvenStream => "a client-initiated stream with an even id",
            NoteCode::FlowControlError => "a sender exceeded the flow-control window",
            NoteCode::FlowControlViolation => "a WINDOW_UPDATE broke the flow-control rules",
            NoteCode::FlowTableFull => "a connection was evicted: the flow table reached --max-connections",
            NoteCode::FrameTooLarge => "a frame larger than the receiver's SETTINGS_MAX_FRAME_SIZE",
            NoteCode::GrpcStatusDuplicated => {
                "trailers carried grpc-status more than once: the last counts, as in grpc-go"
            }
            NoteCode::GrpcStatusMalformed => {
                "grpc-status is not a number gRPC accepts: INTERNAL, as grpc-go reports it"
            }
            NoteCode::HeaderBlockLost => "part of a header block was not captured",
            NoteCode::HeaderListLimit => "a header list passed --max-header-list; later fields were not kept",
            NoteCode::HeadersLost => "a header block of the call was not captured",
            NoteCode::HpackError => "a header block failed to decode (HPACK)",
            NoteCode::HpackTableLimit => "a dynamic-table size update past --max-hpack-table",
            NoteCode::HttpStatusMalformed => "a :status that is not a three-digit code",
            NoteCode::Incomplete => "the capture ended before the call did",
            NoteCode::InterleavedFrame => "another frame inside an unfinished header block",
            NoteCode::MalformedFrame => "a frame whose payload does not parse",
            NoteCode::MalformedRequest => "a request gRPC rejects as malformed (:method, :path, pseudo-header order)",
            NoteCode::MessageTooLarge => "a message longer than --max-message-size",
            NoteCode::MessagesLost => "message boundaries were lost in a capture gap",
            NoteCode::NoPreface => "the client did not start with the HTTP/2 preface",
            NoteCode::OpenHeadersLimit => {
                "open streams' header lists passed --max-open-headers; later fields were not kept"
            }
            NoteCode::OrphanContinuation => "a CONTINUATION with no header block open",
            NoteCode::PushFromClient => "PUSH_PROMISE sent by the client",
            NoteCode::ReassemblyBufferFull => "TCP bytes ahead of a hole passed the reassembly buffer",
            NoteCode::ReorderHoldExpired => {
                "a segment acknowledging bytes of the other direction never captured was released at the hold's bound"
            }
            NoteCode::RequestTrailers => "the client sent a second header block",
            NoteCode::ReservedBit => "the reserved bit of a stream id is set",
            NoteCode::ResponseNotGrpc => "the response's content-type is not gRPC (a proxy's page)",
            NoteCode::Resynchronised => "frame boundaries were found again after lost or missing bytes",
            NoteCode::RetransmitConflict => {
                "TCP bytes were retransmitted with different content: the first copy is decoded, as Linux keeps it"
            }
            NoteCode::RstOutsideWindow => "a TCP RST outside the receive window, ignored as a TCP stack would",
            NoteCode::StatusDetails => "grpc-status-details-bin does not decode",
            NoteCode::StreamIdReused => "a stream id used again",
            NoteCode::StreamLimit => "a stream past --max-streams was not tracked",
            NoteCode::StreamZero => "a stream frame on stream 0",
            NoteCode::TcpGap => "bytes the capture never held (a hole in a TCP direction)",
            NoteCode::UnfinishedHeaderBlock => "a header block began before the previous one ended",
            NoteCode::UnknownHeaderFields => "header fields refer to HPACK entries the capture never showed",
            NoteCode::WindowOverflow => "a flow-control window passed 2^31-1",
            NoteCode::ZeroWindowIncrement => "a WINDOW_UPDATE of 0",
        }
    }

    /// The code whose text is `s`.
    pub fn parse(s: &str) -> Option<NoteCode> {
        NoteCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for NoteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that width and alignment in format strings apply.
        f.pad(self.as_str())
    }
}

impl PartialOrd for NoteCode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NoteCode {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_serialize_as_their_text() {
        for c in NoteCode::ALL {
            assert_eq!(NoteCode::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
        let sorted = NoteCode::ALL.windows(2).all(|w| w[0].as_str() < w[1].as_str());
        assert!(sorted, "ALL is listed alphabetically");
        let map: std::collections::BTreeMap<NoteCode, u64> = [(NoteCode::TcpGap, 1), (NoteCode::BadChecksum, 2)].into();
        assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"bad_checksum":2,"tcp_gap":1}"#);
    }

    /// docs/notes.md lists every code with its meaning, as `conns` and
    /// `stats` print them; `GRPCSCOPE_UPDATE_DOCS=1` rewrites the table.
    #[test]
    fn docs_notes_md_lists_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/notes.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (start, end) = ("<!-- codes -->\n", "<!-- /codes -->");
        let (head, rest) = doc.split_once(start).expect("docs/notes.md lacks <!-- codes -->");
        let (_, tail) = rest.split_once(end).expect("docs/notes.md lacks <!-- /codes -->");
        let mut table = String::from("| code | what it means |\n|---|---|\n");
        for c in NoteCode::ALL {
            table.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.meaning()));
        }
        let current = format!("{head}{start}{table}{end}{tail}");
        if std::env::var_os("GRPCSCOPE_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &current).unwrap();
        }
        assert!(
            doc == current,
            "docs/notes.md's table is stale: run GRPCSCOPE_UPDATE_DOCS=1 cargo test --lib docs_notes"
        );
    }
}
