//! What the HTTP/2 layer emits.

use super::detect::Evidence;
use super::frame::{Body, FrameHeader};
use super::hpack::DecodedBlock;
use crate::exchange::{Carrier, Protocol};
use crate::tcp::{ConnId, Dir, Side};
use crate::time::Timestamp;
use bytes::Bytes;
use serde::Serialize;
use std::ops::Range;
use std::sync::Arc;

pub use crate::notes::{Level, Note, NoteCode};

/// The state of a stream after a frame, as an observer sees it (RFC 9113 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Promised by PUSH_PROMISE, not yet used.
    Reserved,
    /// Both sides may send.
    Open,
    /// The client finished sending (END_STREAM from the client).
    HalfClosedClient,
    /// The server finished sending.
    HalfClosedServer,
    /// Both finished, or reset.
    Closed,
}

impl StreamState {
    /// The RFC's wording from the client's point of view.
    pub fn describe(self) -> &'static str {
        match self {
            StreamState::Reserved => "reserved",
            StreamState::Open => "open",
            StreamState::HalfClosedClient => "half-closed (client done)",
            StreamState::HalfClosedServer => "half-closed (server done)",
            StreamState::Closed => "closed",
        }
    }
}

/// Flow-control windows around a DATA or WINDOW_UPDATE frame (§6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowInfo {
    /// Whose send window: the direction the window allows data to flow.
    pub window_of: Dir,
    /// The stream's window before and after, when known.
    pub stream: Option<(i64, i64)>,
    /// The connection's window before and after, when known.
    pub connection: Option<(i64, i64)>,
}

/// A complete header block (HEADERS or PUSH_PROMISE plus CONTINUATIONs).
#[derive(Debug, Clone)]
pub struct HeaderBlock {
    /// The stream it belongs to.
    pub stream_id: u32,
    /// For PUSH_PROMISE, the promised stream.
    pub promised_stream_id: Option<u32>,
    /// The HEADERS frame carried END_STREAM.
    pub end_stream: bool,
    /// Decoded fields.
    pub decoded: DecodedBlock,
    /// The block's bytes (all fragments concatenated).
    pub bytes: Bytes,
    /// Where each fragment sits in the direction's byte stream: (offset, length).
    pub fragments: Vec<(u64, usize)>,
    /// The dynamic table after the block, newest first (name, value, size),
    /// when table snapshots were asked for.
    pub table_after: Option<Vec<(String, String, usize)>>,
    /// Dynamic table size after the block.
    pub table_size: usize,
}

impl HeaderBlock {
    /// The first value of header `name` (when known).
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.decoded.fields.iter().find(|f| f.name.as_deref() == Some(name.as_bytes())).and_then(|f| f.value.as_ref())
    }
}

/// One HTTP/2 frame and everything learned from it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Connection.
    pub conn: ConnId,
    /// Direction.
    pub dir: Dir,
    /// Time of the packet that completed it.
    pub ts: Timestamp,
    /// That packet's number.
    pub packet: u64,
    /// Offset of its first header byte in the direction's byte stream.
    pub offset: u64,
    /// The 9-byte header.
    pub header: FrameHeader,
    /// The payload.
    pub payload: Bytes,
    /// The payload decoded.
    pub body: Body,
    /// Payload bytes that were never captured (zero-filled in `payload`).
    pub missing: Option<Box<Range<usize>>>,
    /// The decoded header block this frame completed.
    pub block: Option<Arc<HeaderBlock>>,
    /// Windows before and after.
    pub flow: Option<Box<FlowInfo>>,
    /// The stream's state after the frame.
    pub state: Option<StreamState>,
    /// Problems and remarks.
    pub notes: Vec<Note>,
    /// The TLS records that carried the frame, in order, when it was
    /// decrypted (empty in clear text: `offset` is then in the captured
    /// TCP byte stream). Set by the decoder chain, which owns both layers.
    pub carriers: Vec<Arc<Carrier>>,
}

impl Frame {
    /// The part of a DATA frame's data (`data`, its range in the payload)
    /// that was never captured, relative to the data.
    pub fn data_missing(&self, data: &Range<usize>) -> Option<Range<usize>> {
        self.missing
            .as_ref()
            .map(|m| m.start.saturating_sub(data.start)..m.end.saturating_sub(data.start).min(data.len()))
    }
}

#[cfg(test)]
impl Frame {
    /// A frame on connection 1 at time 0, as the decoder would make it
    /// (header length from `payload`), for the tests of the layers above.
    pub fn for_test(
        dir: Dir,
        stream_id: u32,
        kind: super::frame::FrameType,
        flags: u8,
        body: Body,
        payload: Vec<u8>,
    ) -> Frame {
        let header = FrameHeader { length: payload.len() as u32, kind, flags, stream_id, reserved_bit: false };
        Frame {
            conn: 1,
            dir,
            ts: Timestamp(0),
            packet: 0,
            offset: 0,
            header,
            payload: Bytes::from(payload),
            body,
            missing: None,
            block: None,
            flow: None,
            state: None,
            notes: Vec::new(),
            carriers: Vec::new(),
        }
    }
}

/// A SETTINGS frame one side sent, and when the other acknowledged it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsRecord {
    /// When it was sent.
    pub ts: Timestamp,
    /// Its parameters (id, value).
    pub params: Vec<(u16, u32)>,
    /// When the peer's SETTINGS ACK came.
    pub acked: Option<Timestamp>,
}

/// A PING and its round trip.
#[derive(Debug, Clone, Serialize)]
pub struct PingRecord {
    /// Who sent the PING.
    pub from: Side,
    /// When.
    pub ts: Timestamp,
    /// Opaque data, hex.
    pub opaque: String,
    /// Time until the ACK came back, nanoseconds.
    pub rtt_nanos: Option<i64>,
}

/// A GOAWAY.
#[derive(Debug, Clone, Serialize)]
pub struct GoAwayRecord {
    /// Who sent it.
    pub from: Side,
    /// When.
    pub ts: Timestamp,
    /// Last stream the sender may process; higher ones were not.
    pub last_stream_id: u32,
    /// Error code.
    pub error_code: u32,
    /// Its name.
    pub error_name: String,
    /// Debug data (lossy UTF-8).
    pub debug: String,
}

/// HTTP/2 facts about a connection, for `conns`.
#[derive(Debug, Clone, Serialize)]
pub struct H2Summary {
    /// What the HTTP/2 decoder found: HTTP/2, or (searching a capture
    /// begun mid-connection) no frames at all.
    pub protocol: Protocol,
    /// How HTTP/2 was recognised.
    pub evidence: Option<Evidence>,
    /// When the client preface was seen.
    pub preface_ts: Option<Timestamp>,
    /// SETTINGS sent by the client.
    pub client_settings: Vec<SettingsRecord>,
    /// SETTINGS sent by the server.
    pub server_settings: Vec<SettingsRecord>,
    /// PINGs and their round trips.
    pub pings: Vec<PingRecord>,
    /// GOAWAYs.
    pub goaways: Vec<GoAwayRecord>,
    /// Frames client→server, server→client.
    pub frames: [u64; 2],
    /// Streams opened.
    pub streams: u64,
    /// Header fields that referred to dynamic-table entries never seen.
    pub unknown_header_fields: u64,
    /// Notes at warning or error level.
    pub problems: u64,
    /// The same notes by code: which limits this connection hit, and how often.
    pub problem_codes: std::collections::BTreeMap<NoteCode, u64>,
    /// Times frame boundaries had to be found again (per direction).
    pub resyncs: [u64; 2],
    /// Bytes skipped while looking for frame boundaries (per direction).
    pub skipped_bytes: [u64; 2],
}

impl H2Summary {
    /// The summary of a decoder that has seen nothing (also the HTTP/2 part
    /// of a connection the detector found to carry something else).
    pub const fn new() -> Self {
        H2Summary {
            protocol: Protocol::Unknown,
            evidence: None,
            preface_ts: None,
            client_settings: Vec::new(),
            server_settings: Vec::new(),
            pings: Vec::new(),
            goaways: Vec::new(),
            frames: [0; 2],
            streams: 0,
            unknown_header_fields: 0,
            problems: 0,
            problem_codes: std::collections::BTreeMap::new(),
            resyncs: [0; 2],
            skipped_bytes: [0; 2],
        }
    }

    /// Whether this is still the summary of a decoder that has seen
    /// nothing: no preface, no frame, no problem.
    pub fn is_blank(&self) -> bool {
        let H2Summary {
            protocol,
            evidence,
            preface_ts,
            client_settings,
            server_settings,
            pings,
            goaways,
            frames,
            streams,
            unknown_header_fields,
            problems,
            problem_codes,
            resyncs,
            skipped_bytes,
        } = self;
        *protocol == Protocol::Unknown
            && evidence.is_none()
            && preface_ts.is_none()
            && client_settings.is_empty()
            && server_settings.is_empty()
            && pings.is_empty()
            && goaways.is_empty()
            && *frames == [0; 2]
            && *streams == 0
            && *unknown_header_fields == 0
            && *problems == 0
            && problem_codes.is_empty()
            && *resyncs == [0; 2]
            && *skipped_bytes == [0; 2]
    }
}

impl Default for H2Summary {
    fn default() -> Self {
        Self::new()
    }
}

/// What the HTTP/2 layer tells the layers above.
#[derive(Debug, Clone)]
pub enum H2Event {
    /// The client connection preface.
    Preface {
        /// Connection.
        conn: ConnId,
        /// When.
        ts: Timestamp,
        /// Its offset in the client's stream (0).
        offset: u64,
        /// Packet number.
        packet: u64,
    },
    /// A frame.
    Frame(Box<Frame>),
    /// Frames were lost in `dir` (a capture gap): streams with data in
    /// flight there may miss bytes.
    Lost {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Dir,
        /// When.
        ts: Timestamp,
        /// Bytes lost (including those skipped to find frames again).
        bytes: u64,
        /// Frame boundaries were lost (frames may be missing). When false,
        /// the hole lies inside one frame's payload and that frame marks it.
        framing_lost: bool,
    },
}
