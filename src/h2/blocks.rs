//! Header-block assembly, one owner per direction: HEADERS or
//! PUSH_PROMISE and their CONTINUATIONs are joined (bounded by
//! --max-header-block, the CONTINUATION-flood defence) and decoded with
//! the direction's HPACK decoder. Protocol violations become notes.

use super::conn::H2Config;
use super::direction::{BlockState, DirState};
use super::frame::{flags, Body, FrameHeader, FrameType};
use super::types::{HeaderBlock, Level, Note};
use crate::notes::NoteCode;
use bytes::{Bytes, BytesMut};
use std::ops::Range;

impl DirState {
    /// Takes frame `h` (whose header begins at stream `offset`; `damaged`
    /// when bytes of it were not captured) into the header block being
    /// assembled; returns the block it completed, decoded.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn header_block(
        &mut self,
        h: &FrameHeader,
        body: &Body,
        payload: &Bytes,
        offset: u64,
        damaged: bool,
        keep: usize,
        cfg: &H2Config,
        notes: &mut Vec<Note>,
    ) -> Option<HeaderBlock> {
        let _max_block = cfg.max_header_block;
        let ds = self;
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
                    return Some(ds.finish_block(h.stream_id, promised, end_stream, frag, fragments, keep, cfg, notes));
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
                ds.continuation(h, payload.slice(fragment.clone()), at(fragment), keep, cfg, notes)
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
        h: &FrameHeader,
        frag: Bytes,
        at: u64,
        keep: usize,
        cfg: &H2Config,
        notes: &mut Vec<Note>,
    ) -> Option<HeaderBlock> {
        let max_block = cfg.max_header_block;
        let ds = self;
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
                Some(ds.finish_block(stream_id, promised, end_stream, buf.freeze(), fragments, keep, cfg, notes))
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

    /// Decodes a complete header block with this direction's HPACK decoder,
    /// noting what went wrong and which limits it hit.
    #[allow(clippy::too_many_arguments)]
    fn finish_block(
        &mut self,
        stream_id: u32,
        promised: Option<u32>,
        end_stream: bool,
        bytes: Bytes,
        fragments: Vec<(u64, usize)>,
        keep: usize,
        cfg: &H2Config,
        notes: &mut Vec<Note>,
    ) -> HeaderBlock {
        let snapshot = cfg.snapshot_tables;
        let ds = self;
        let decoded = ds.hpack.decode_keeping(&bytes, keep);
        if let Some(e) = &decoded.error {
            notes.push(Note::new(Level::Error, NoteCode::HpackError, e.to_string()));
        }
        if decoded.unknown > 0 {
            notes.push(Note::new(
                Level::Info,
                NoteCode::UnknownHeaderFields,
                format!("{} header field(s) refer to dynamic-table entries inserted before the capture saw them: shown as numbered unknown entries (?dyn#N)", decoded.unknown),
            ));
        }
        if decoded.dropped > 0 && decoded.list_size > cfg.hpack.max_header_list {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::HeaderListLimit,
                format!(
                    "the header list is {} bytes; the {} field(s) past --max-header-list {} were not kept",
                    decoded.list_size, decoded.dropped, cfg.hpack.max_header_list
                ),
            ));
        } else if decoded.dropped > 0 {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::OpenHeadersLimit,
                format!(
                    "open streams keep {} bytes of headers, {} of them on this connection (--max-open-headers {}, a quarter of it per connection): {} field(s) of this {}-byte header list were not kept",
                    cfg.open_headers.limit() - cfg.open_headers.left(),
                    cfg.open_headers.limit().saturating_sub(keep.min(cfg.open_headers.limit())),
                    cfg.open_headers.limit(),
                    decoded.dropped,
                    decoded.list_size
                ),
            ));
        }
        let table_cap = cfg.hpack.max_table_size;
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
                        match (&e.name, e.name_of) {
                            (Some(n), _) => String::from_utf8_lossy(n).into_owned(),
                            (None, Some(slot)) => slot.to_string(),
                            (None, None) => "<unknown>".into(),
                        },
                        String::from_utf8_lossy(&e.value).into_owned(),
                        e.size(),
                    )
                })
                .collect()
        });
        let table_size = ds.hpack.table.size();
        HeaderBlock {
            stream_id,
            promised_stream_id: promised,
            end_stream,
            decoded,
            bytes,
            fragments,
            table_after,
            table_size,
        }
    }
}
