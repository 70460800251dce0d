//! What happens to each frame: header-block assembly and HPACK decoding,
//! stream and flow-control bookkeeping, SETTINGS, PING and GOAWAY, and the
//! protocol rules checked along the way. Violations become notes on the
//! frame; decoding always goes on.

use super::conn::H2Conn;
use super::frame::{parse_body, Body, FrameHeader, FrameType};
use super::types::{Frame, H2Event, HeaderBlock, Level, Note};
use crate::notes::NoteCode;
use crate::tcp::{Dir, Side};
use crate::time::Timestamp;
use bytes::Bytes;
use std::ops::Range;
use std::sync::Arc;

impl H2Conn {
    /// Processes one complete frame of `dir` (whose header begins at stream
    /// `offset`) and emits it. Returns the frame's direction, which changes
    /// if this frame showed client and server to be the other way round.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn frame(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        packet: u64,
        offset: u64,
        h: FrameHeader,
        payload: Bytes,
        missing: Option<Range<usize>>,
        out: &mut Vec<H2Event>,
    ) {
        let body = parse_body(&h, &payload);
        let mut notes = Vec::new();
        if let Some(n) = self.dirs.get_mut(dir.index()).and_then(|d| d.pending_note.take()) {
            notes.push(n);
        }
        if let Some(m) = &missing {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::BytesNotCaptured,
                format!("{} of the payload's {} bytes were never captured (zero-filled)", m.len(), h.length),
            ));
        }
        self.check_header(dir, &h, &body, &mut notes);
        let keep = self.streams.header_allowance();
        let block = self.dirs.get_mut(dir.index()).and_then(|ds| {
            ds.header_block(&h, &body, &payload, offset, missing.is_some(), keep, &self.cfg, &mut notes)
        });
        let block = block.map(|b| {
            self.summary.unknown_header_fields += b.decoded.unknown as u64;
            self.note_roles(dir, &b);
            Arc::new(b)
        });
        let (state, flow) = self.streams.on_frame(dir, &h, &body, &mut notes);
        if let Some(b) = &block {
            self.streams.keep_headers(b.stream_id, b.decoded.kept_memory);
        }
        self.connection_frame(dir, ts, &body, &payload, &mut notes);
        if let Some(n) = self.summary.frames.get_mut(dir.index()) {
            *n += 1;
        }
        for n in notes.iter().filter(|n| n.level >= Level::Warning) {
            self.summary.problems += 1;
            *self.summary.problem_codes.entry(n.code).or_default() += 1;
        }
        let frame = Frame {
            conn: self.id,
            dir,
            ts,
            packet,
            offset,
            header: h,
            payload,
            body,
            missing: missing.map(Box::new),
            block,
            flow: flow.map(Box::new),
            state,
            notes,
            carriers: Vec::new(),
        };
        out.push(H2Event::Frame(Box::new(frame)));
    }

    fn check_header(&self, dir: Dir, h: &FrameHeader, body: &Body, notes: &mut Vec<Note>) {
        let limit = self.dirs.get(dir.index()).map_or(super::frame::DEFAULT_MAX_FRAME_SIZE, |d| d.max_frame_size);
        if h.length > limit {
            notes.push(Note::new(
                Level::Error,
                NoteCode::FrameTooLarge,
                format!(
                    "{}-byte frame exceeds the receiver's SETTINGS_MAX_FRAME_SIZE {limit} (FRAME_SIZE_ERROR)",
                    h.length
                ),
            ));
        }
        if h.reserved_bit {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::ReservedBit,
                "the reserved bit of the stream identifier is set (ignored)",
            ));
        }
        use FrameType as T;
        let needs_stream =
            matches!(h.kind, T::DATA | T::HEADERS | T::PRIORITY | T::RST_STREAM | T::PUSH_PROMISE | T::CONTINUATION);
        let needs_zero = matches!(h.kind, T::SETTINGS | T::PING | T::GOAWAY);
        if needs_stream && h.stream_id == 0 {
            notes.push(Note::new(
                Level::Error,
                NoteCode::StreamZero,
                format!("{} on stream 0 (PROTOCOL_ERROR)", h.kind.name()),
            ));
        }
        if needs_zero && h.stream_id != 0 {
            notes.push(Note::new(
                Level::Error,
                NoteCode::ConnectionFrameOnStream,
                format!("{} on stream {} (PROTOCOL_ERROR)", h.kind.name(), h.stream_id),
            ));
        }
        if h.kind == FrameType::PUSH_PROMISE && dir == Dir::ToServer {
            notes.push(Note::new(
                Level::Error,
                NoteCode::PushFromClient,
                "PUSH_PROMISE sent by the client (PROTOCOL_ERROR)",
            ));
        }
        if let Body::Malformed(why) = body {
            notes.push(Note::new(Level::Error, NoteCode::MalformedFrame, why.to_string()));
        }
    }

    /// Pseudo-headers say who is who: `:method`/`:path` come from the
    /// client, `:status` from the server. The first block that carries any
    /// is remembered (the decoder chain settles the roles on it).
    fn note_roles(&mut self, dir: Dir, block: &HeaderBlock) {
        if self.roles_shown.is_some() {
            return;
        }
        let names = block.decoded.fields.iter().filter_map(|f| f.name.as_deref());
        let mut sender = None;
        for n in names {
            if matches!(n, b":method" | b":path" | b":scheme" | b":authority") {
                sender = Some(Side::Client);
            } else if n == b":status" {
                sender = Some(Side::Server);
            }
        }
        if let Some(sender) = sender {
            self.roles_shown = Some(sender != dir.sender());
        }
    }

    /// SETTINGS, PING and GOAWAY: their records, and what SETTINGS change.
    fn connection_frame(&mut self, dir: Dir, ts: Timestamp, body: &Body, payload: &Bytes, notes: &mut Vec<Note>) {
        match body {
            Body::Settings { ack: false, params } => {
                self.apply_settings(dir, params, notes);
                self.records.settings_sent(dir, ts, params);
            }
            Body::Settings { ack: true, .. } => self.records.settings_acked(dir, ts),
            Body::Ping { ack, opaque } => self.records.ping(dir, ts, *ack, *opaque),
            Body::GoAway { last_stream_id, error_code, debug } => {
                self.records.goaway(dir, ts, *last_stream_id, *error_code, payload.get(debug.clone()).unwrap_or(&[]))
            }
            _ => {}
        }
    }

    /// What a SETTINGS frame changes for the decoding of the peer's frames.
    fn apply_settings(&mut self, dir: Dir, params: &[(u16, u32)], notes: &mut Vec<Note>) {
        use super::frame::setting;
        let peer = dir.other();
        for &(id, v) in params {
            match id {
                setting::HEADER_TABLE_SIZE => {
                    if let Some(d) = self.dirs.get_mut(peer.index()) {
                        d.hpack.set_settings_limit(v);
                    }
                }
                setting::ENABLE_PUSH if v > 1 => notes.push(Note::new(
                    Level::Error,
                    NoteCode::BadSetting,
                    format!("ENABLE_PUSH must be 0 or 1, not {v} (PROTOCOL_ERROR)"),
                )),
                setting::INITIAL_WINDOW_SIZE => self.streams.set_initial_window(peer, v, notes),
                setting::MAX_FRAME_SIZE if !(16_384..=16_777_215).contains(&v) => {
                    notes.push(Note::new(
                        Level::Error,
                        NoteCode::BadSetting,
                        format!("MAX_FRAME_SIZE {v} is outside 16384..16777215 (PROTOCOL_ERROR)"),
                    ));
                }
                setting::MAX_FRAME_SIZE => {
                    if let Some(d) = self.dirs.get_mut(peer.index()) {
                        d.max_frame_size = v;
                    }
                }
                _ => {}
            }
        }
    }
}
