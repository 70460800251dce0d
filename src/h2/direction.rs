//! The state of one direction of an HTTP/2 connection: how its bytes are
//! being read, the bytes not yet cut into frames, its HPACK decoder and the
//! header block being assembled. Owned by [`super::conn::H2Conn`], one per
//! direction; the frame processing reads and updates it.

use super::frame::{flags, FrameHeader, DEFAULT_MAX_FRAME_SIZE};
use super::hpack;
use super::types::Note;
use crate::time::Timestamp;
use bytes::BytesMut;
use std::ops::Range;

/// How a direction's bytes are being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Expecting the client connection preface (the server already spoke HTTP/2).
    Preface,
    /// Reading frames.
    Framing,
    /// Looking for frame boundaries; this many bytes skipped so far.
    Searching(u64),
    /// Not HTTP/2 (or given up): bytes are ignored.
    Ignoring,
}

/// Per-direction decoding state.
pub(crate) struct DirState {
    pub mode: Mode,
    /// Bytes not yet cut into frames.
    pub buf: BytesMut,
    /// Stream offset of `buf[0]`.
    pub buf_offset: u64,
    /// The TCP segments whose bytes are in `buf`: (stream offset, time,
    /// packet), so a frame found later keeps the time of its own packet.
    pub segs: Vec<(u64, Timestamp, u64)>,
    /// Payload bytes of the frame in `buf` that were never captured.
    pub buf_missing: Option<Range<usize>>,
    /// This direction's HPACK decoder (the receiver's view).
    pub hpack: hpack::Decoder,
    /// The header block being assembled.
    pub block: BlockState,
    /// SETTINGS_MAX_FRAME_SIZE of the receiver.
    pub max_frame_size: u32,
    /// A resynchronisation note for the next frame.
    pub pending_note: Option<Note>,
}

impl DirState {
    pub(crate) fn new(mode: Mode, complete: bool, limits: hpack::Limits) -> Self {
        DirState {
            mode,
            buf: BytesMut::new(),
            buf_offset: 0,
            segs: Vec::new(),
            buf_missing: None,
            hpack: hpack::Decoder::new(complete, limits),
            block: BlockState::None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            pending_note: None,
        }
    }
}

/// A header block being assembled across HEADERS/PUSH_PROMISE and CONTINUATION frames.
pub(crate) enum BlockState {
    None,
    Open {
        stream_id: u32,
        promised: Option<u32>,
        end_stream: bool,
        buf: BytesMut,
        fragments: Vec<(u64, usize)>,
    },
    /// Too large or broken: its CONTINUATIONs are skipped until END_HEADERS.
    Discarding {
        stream_id: u32,
    },
}

impl DirState {
    /// The header block of frame `h` cannot be decoded: skip the rest of it,
    /// and distrust the HPACK table, since its insertions are unknown.
    pub(crate) fn abandon_block(&mut self, h: &FrameHeader) {
        self.hpack.lose_track();
        self.block = if h.has(flags::END_HEADERS) {
            BlockState::None
        } else {
            BlockState::Discarding { stream_id: h.stream_id }
        };
    }
}
