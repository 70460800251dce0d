//! What happens to each frame: header-block assembly and HPACK decoding,
//! stream and flow-control bookkeeping, SETTINGS, PING and GOAWAY, and the
//! protocol rules checked along the way. Violations become notes on the
//! frame; decoding always goes on.

use super::conn::H2Conn;
use super::direction::BlockState;
use super::frame::{flags, parse_body, Body, FrameHeader, FrameType};
use super::types::{Frame, H2Event, HeaderBlock, Level, Note};
use crate::notes::NoteCode;
use crate::tcp::{Dir, Side};
use crate::time::Timestamp;
use bytes::{Bytes, BytesMut};
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
    ) -> Dir {
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
        let block = self.header_block(dir, &h, &body, &payload, offset, missing.is_some(), &mut notes);
        // Telling client from server by content may have swapped the directions.
        let dir =
            if block.as_ref().is_some_and(|_| self.swapped) && self.roles_just_swapped() { dir.other() } else { dir };
        let (state, flow) = self.streams.on_frame(dir, &h, &body, &mut notes);
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
            missing,
            block,
            flow,
            state,
            notes,
        };
        self.emit(H2Event::Frame(Box::new(frame)), out);
        dir
    }

    /// True once after a swap, so the frame that caused it is relabelled.
    fn roles_just_swapped(&mut self) -> bool {
        std::mem::take(&mut self.relabel_current)
    }

    /// Frames are held back while client and server are unconfirmed.
    pub(crate) fn emit(&mut self, ev: H2Event, out: &mut Vec<H2Event>) {
        if !self.roles_guessed {
            // Roles just got settled: what was held goes first, in order.
            self.release_held(out);
            out.push(ev);
            return;
        }
        self.held.push(ev);
        if self.held.len() >= self.cfg.max_held_frames {
            // No request or response seen: keep the guess from the port numbers.
            self.roles_guessed = false;
            self.release_held(out);
        }
    }

    /// Lets held frames go.
    pub(crate) fn release_held(&mut self, out: &mut Vec<H2Event>) {
        out.append(&mut self.held);
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

    #[allow(clippy::too_many_arguments)]
    fn header_block(
        &mut self,
        dir: Dir,
        h: &FrameHeader,
        body: &Body,
        payload: &Bytes,
        offset: u64,
        damaged: bool,
        notes: &mut Vec<Note>,
    ) -> Option<Arc<HeaderBlock>> {
        let max_block = self.cfg.max_header_block;
        let ds = self.dirs.get_mut(dir.index())?;
        let at = |r: &Range<usize>| offset + super::frame::HEADER_LEN as u64 + r.start as u64;
        let starts_block = matches!(body, Body::Headers { .. } | Body::PushPromise { .. });
        if damaged && (starts_block || matches!(body, Body::Continuation { .. })) {
            notes.push(Note::new(Level::Warning, NoteCode::HeaderBlockLost, "part of this header block was not captured: it cannot be decoded, and the HPACK table is no longer known"));
            ds.abandon_block(h);
            return None;
        }
        match body {
            Body::Headers { fragment, .. } | Body::PushPromise { fragment, .. } => {
                if let BlockState::Open { stream_id, .. } = ds.block {
                    notes.push(Note::new(
                        Level::Error,
                        NoteCode::UnfinishedHeaderBlock,
                        format!("a header block began before the one on stream {stream_id} ended (PROTOCOL_ERROR)"),
                    ));
                    ds.hpack.lose_track();
                }
                let promised = match body {
                    Body::PushPromise { promised_stream_id, .. } => Some(*promised_stream_id),
                    _ => None,
                };
                let end_stream = matches!(body, Body::Headers { .. }) && h.has(flags::END_STREAM);
                let frag = payload.slice(fragment.clone());
                let fragments = vec![(at(fragment), frag.len())];
                if h.has(flags::END_HEADERS) {
                    ds.block = BlockState::None;
                    return Some(self.finish_block(dir, h.stream_id, promised, end_stream, frag, fragments, notes));
                }
                ds.block = BlockState::Open {
                    stream_id: h.stream_id,
                    promised,
                    end_stream,
                    buf: BytesMut::from(&frag[..]),
                    fragments,
                };
                None
            }
            Body::Continuation { fragment } => {
                self.continuation(dir, h, payload.slice(fragment.clone()), at(fragment), max_block, notes)
            }
            Body::Malformed(_)
                if matches!(h.kind, FrameType::HEADERS | FrameType::PUSH_PROMISE | FrameType::CONTINUATION) =>
            {
                ds.abandon_block(h);
                None
            }
            _ => {
                if let BlockState::Open { stream_id, .. } = ds.block {
                    notes.push(Note::new(
                        Level::Error,
                        NoteCode::InterleavedFrame,
                        format!(
                            "{} inside the unfinished header block of stream {stream_id} (PROTOCOL_ERROR)",
                            h.kind.name()
                        ),
                    ));
                }
                None
            }
        }
    }

    fn continuation(
        &mut self,
        dir: Dir,
        h: &FrameHeader,
        frag: Bytes,
        at: u64,
        max_block: usize,
        notes: &mut Vec<Note>,
    ) -> Option<Arc<HeaderBlock>> {
        let ds = self.dirs.get_mut(dir.index())?;
        let end = h.has(flags::END_HEADERS);
        match &mut ds.block {
            BlockState::Open { stream_id, buf, fragments, .. } if *stream_id == h.stream_id => {
                buf.extend_from_slice(&frag);
                fragments.push((at, frag.len()));
                if buf.len() > max_block {
                    notes.push(Note::new(
                        Level::Error,
                        NoteCode::ContinuationFlood,
                        format!("header block of stream {} passed {max_block} bytes over {} frames: dropped (CONTINUATION flood defence, --max-header-block)", h.stream_id, fragments.len()),
                    ));
                    ds.abandon_block(h);
                    return None;
                }
                if !end {
                    return None;
                }
                let BlockState::Open { stream_id, promised, end_stream, buf, fragments } =
                    std::mem::replace(&mut ds.block, BlockState::None)
                else {
                    return None;
                };
                Some(self.finish_block(dir, stream_id, promised, end_stream, buf.freeze(), fragments, notes))
            }
            BlockState::Discarding { stream_id } if *stream_id == h.stream_id => {
                if end {
                    ds.block = BlockState::None;
                }
                None
            }
            BlockState::Open { stream_id, .. } | BlockState::Discarding { stream_id } => {
                let open = *stream_id;
                notes.push(Note::new(
                    Level::Error,
                    NoteCode::ContinuationMismatch,
                    format!(
                        "CONTINUATION for stream {} while the block of stream {open} is open (PROTOCOL_ERROR)",
                        h.stream_id
                    ),
                ));
                None
            }
            BlockState::None => {
                notes.push(Note::new(
                    Level::Error,
                    NoteCode::OrphanContinuation,
                    "CONTINUATION without a HEADERS or PUSH_PROMISE before it (PROTOCOL_ERROR)",
                ));
                ds.hpack.lose_track();
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_block(
        &mut self,
        dir: Dir,
        stream_id: u32,
        promised: Option<u32>,
        end_stream: bool,
        bytes: Bytes,
        fragments: Vec<(u64, usize)>,
        notes: &mut Vec<Note>,
    ) -> Arc<HeaderBlock> {
        let snapshot = self.cfg.snapshot_tables;
        let Some(ds) = self.dirs.get_mut(dir.index()) else {
            return Arc::new(HeaderBlock {
                stream_id,
                promised_stream_id: promised,
                end_stream,
                decoded: Default::default(),
                bytes,
                fragments,
                table_after: None,
                table_size: 0,
            });
        };
        let decoded = ds.hpack.decode(&bytes);
        if let Some(e) = &decoded.error {
            notes.push(Note::new(Level::Error, NoteCode::HpackError, e.to_string()));
        }
        if decoded.unknown > 0 {
            notes.push(Note::new(
                Level::Info,
                NoteCode::UnknownHeaderFields,
                format!("{} header field(s) refer to dynamic-table entries inserted before the capture saw them: shown as unknown", decoded.unknown),
            ));
        }
        if decoded.dropped > 0 {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::HeaderListLimit,
                format!(
                    "the header list is {} bytes; the {} field(s) past --max-header-list {} were not kept",
                    decoded.list_size, decoded.dropped, self.cfg.hpack.max_header_list
                ),
            ));
        }
        let table_cap = self.cfg.hpack.max_table_size;
        if let Some(u) = decoded.size_updates.iter().find(|u| u.max_size as usize > table_cap) {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::HpackTableLimit,
                format!(
                    "dynamic table size update to {} bytes; grpcscope keeps {table_cap} (--max-hpack-table): \
                     fields later taken from older entries cannot be decoded",
                    u.max_size
                ),
            ));
        }
        let table_after = snapshot.then(|| {
            ds.hpack
                .table
                .entries()
                .map(|e| {
                    (
                        e.name.as_ref().map_or_else(|| "<unknown>".into(), |n| String::from_utf8_lossy(n).into_owned()),
                        String::from_utf8_lossy(&e.value).into_owned(),
                        e.size(),
                    )
                })
                .collect()
        });
        let table_size = ds.hpack.table.size();
        self.summary.unknown_header_fields += decoded.unknown as u64;
        let block = HeaderBlock {
            stream_id,
            promised_stream_id: promised,
            end_stream,
            decoded,
            bytes,
            fragments,
            table_after,
            table_size,
        };
        self.confirm_roles(dir, &block);
        Arc::new(block)
    }

    /// Pseudo-headers say who is who: `:method`/`:path` come from the
    /// client, `:status` from the server.
    fn confirm_roles(&mut self, dir: Dir, block: &HeaderBlock) {
        if !self.roles_guessed {
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
        let Some(sender) = sender else { return };
        self.roles_guessed = false;
        if sender != dir.sender() {
            self.swap_roles();
        }
    }

    /// The TCP layer's client is really the server: relabel everything.
    fn swap_roles(&mut self) {
        self.dirs.swap(0, 1);
        self.streams.swap_directions();
        self.summary.frames.swap(0, 1);
        self.summary.resyncs.swap(0, 1);
        self.summary.skipped_bytes.swap(0, 1);
        self.records.swap_roles();
        for ev in &mut self.held {
            match ev {
                H2Event::Frame(f) => {
                    f.dir = f.dir.other();
                    if let Some(flow) = &mut f.flow {
                        flow.window_of = flow.window_of.other();
                    }
                    f.state = f.state.map(|s| match s {
                        super::types::StreamState::HalfClosedClient => super::types::StreamState::HalfClosedServer,
                        super::types::StreamState::HalfClosedServer => super::types::StreamState::HalfClosedClient,
                        s => s,
                    });
                }
                H2Event::Lost { dir, .. } => *dir = dir.other(),
                _ => {}
            }
        }
        self.swapped = true;
        self.relabel_current = true;
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
