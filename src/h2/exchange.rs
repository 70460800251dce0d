//! HTTP/2 frames as protocol-neutral exchange events: a stream is an
//! exchange; HEADERS blocks are heads, DATA is body, RST_STREAM a reset, a
//! server's GOAWAY refuses the streams above its last id.
//!
//! Only what the layers above need crosses: the stream id as the exchange
//! id, the RST_STREAM code as a typed reset cause, the decoded header block
//! as the head's wire record (for viewers that show its HPACK encoding).

use super::frame::{flags, Body, HEADER_LEN};
use super::types::{Frame, H2Event, HeaderBlock};
use crate::exchange::{captured_span, At, Carrier, ExchangeEvent, Head, HeaderPair, ResetCause, Span};
use crate::notes::NoteCode;
use crate::tcp::Dir;
use std::sync::Arc;

/// Turns one connection's HTTP/2 events into exchange events. Frames say
/// nearly all they need; what one does not say is remembered here: the
/// even-numbered streams a client opened itself (a protocol error, but
/// real requests, kept annotated), told apart from pushed streams.
///
/// A header block split over frames is reported with where each fragment
/// was captured: the frames before the last are remembered (their packet,
/// and the TLS records that carried them) until the block completes.
#[derive(Debug, Default, Clone)]
pub struct ToExchanges {
    client_even: std::collections::VecDeque<u32>,
    /// Per direction: the frames of the header block being received.
    open_block: [Vec<FrameOrigin>; 2],
}

/// Where one frame was captured.
#[derive(Debug, Clone)]
struct FrameOrigin {
    packet: u64,
    carriers: Vec<Arc<Carrier>>,
}

/// Client-opened even streams remembered, at most.
const MAX_CLIENT_EVEN: usize = 1_024;
/// Frames of one header block remembered, at most (a block of more
/// fragments reports spans for its first ones and its last).
const MAX_BLOCK_FRAMES: usize = 64;

impl ToExchanges {
    /// The exchange events of `ev`, appended to `out`.
    pub fn event(&mut self, ev: &H2Event, out: &mut Vec<ExchangeEvent>) {
        match ev {
            H2Event::Frame(f) => {
                let id = f.header.stream_id;
                if id != 0 && id.is_multiple_of(2) && f.notes.iter().any(|n| n.code == NoteCode::EvenStream) {
                    if self.client_even.len() >= MAX_CLIENT_EVEN {
                        self.client_even.pop_front();
                    }
                    self.client_even.push_back(id);
                }
                let pushed = id.is_multiple_of(2) && !self.client_even.contains(&id);
                let earlier = self.block_frames(f);
                frame(f, pushed, &earlier, out)
            }
            H2Event::Lost { conn, dir, ts, framing_lost: true, .. } => {
                out.push(ExchangeEvent::Lost { at: At { conn: *conn, dir: *dir, ts: *ts, packet: 0 } })
            }
            H2Event::Lost { framing_lost: false, .. } | H2Event::Preface { .. } => {}
        }
    }
}

impl ToExchanges {
    /// The earlier frames of the header block `f` completes (empty when it
    /// completes none); a HEADERS or CONTINUATION that leaves the block
    /// open is remembered.
    fn block_frames(&mut self, f: &Frame) -> Vec<FrameOrigin> {
        let Some(open) = self.open_block.get_mut(f.dir.index()) else { return Vec::new() };
        if !matches!(f.body, Body::Headers { .. } | Body::Continuation { .. }) {
            return Vec::new();
        }
        if matches!(f.body, Body::Headers { .. }) {
            open.clear();
        }
        if f.block.is_some() || f.header.has(flags::END_HEADERS) {
            return std::mem::take(open);
        }
        if open.len() < MAX_BLOCK_FRAMES {
            open.push(FrameOrigin { packet: f.packet, carriers: f.carriers.clone() });
        }
        Vec::new()
    }
}

fn frame(f: &Frame, pushed: bool, earlier: &[FrameOrigin], out: &mut Vec<ExchangeEvent>) {
    let at = At { conn: f.conn, dir: f.dir, ts: f.ts, packet: f.packet };
    let id = f.header.stream_id;
    if let Body::GoAway { last_stream_id, .. } = &f.body {
        // A client's GOAWAY says nothing about which requests the server processed.
        if f.dir == Dir::ToClient {
            out.push(ExchangeEvent::Refused { at, last_id: *last_stream_id });
        }
        return;
    }
    // Stream 0 carries no exchange; server-initiated (pushed) streams are
    // not requests; a stream the HTTP/2 layer refused to track
    // (--max-streams) gets no exchange either: that cap is what bounds the
    // memory of the layers above.
    if id == 0 || pushed || f.notes.iter().any(|n| n.code == NoteCode::StreamLimit) {
        return;
    }
    match &f.body {
        Body::Headers { .. } | Body::Continuation { .. } => headers(f, at, id, earlier, out),
        Body::Data { data, .. } => {
            let payload_start = f.offset + HEADER_LEN as u64;
            let missing = f.data_missing(data);
            out.push(ExchangeEvent::Body {
                at,
                id,
                data: f.payload.slice(data.clone()),
                missing,
                span: span(f.dir, &f.carriers, payload_start + data.start as u64, data.len(), f.packet),
                end: f.header.has(flags::END_STREAM),
            });
        }
        Body::RstStream { error_code } => out.push(ExchangeEvent::Reset {
            at,
            id,
            from: f.dir.sender(),
            cause: ResetCause::Http2 { error_code: *error_code },
        }),
        _ => {}
    }
}

/// A HEADERS frame begins (or is) a head; a CONTINUATION only matters when
/// it completes one.
fn headers(f: &Frame, at: At, id: u32, earlier: &[FrameOrigin], out: &mut Vec<ExchangeEvent>) {
    let starts_head = matches!(f.body, Body::Headers { .. });
    match &f.block {
        Some(block) => {
            out.push(ExchangeEvent::Head { at, id, head: Arc::new(head(f, block, earlier)), end: block.end_stream })
        }
        None if starts_head && f.notes.iter().any(|n| n.code == NoteCode::HeaderBlockLost) => {
            out.push(ExchangeEvent::HeadLost { at, id })
        }
        None if starts_head => out.push(ExchangeEvent::Begun { at, id }),
        None => {}
    }
}

/// Where `len` decoded bytes at `offset` of `dir` were captured: through
/// the TLS records that carried them, or (in clear) at that offset of the
/// TCP byte stream. A decrypted range its records do not cover has no span.
fn span(dir: Dir, carriers: &[Arc<Carrier>], offset: u64, len: usize, packet: u64) -> Option<Span> {
    if carriers.is_empty() {
        return Some(Span { dir, offset, len: len as u64, packet });
    }
    captured_span(carriers, &(offset..offset + len as u64))
}

/// A decoded header block as a head; the block is its wire record. The
/// block keeps each fragment's offset; `earlier` says where the frames
/// before the last were captured.
fn head(f: &Frame, block: &Arc<HeaderBlock>, earlier: &[FrameOrigin]) -> Head {
    let fields: Vec<HeaderPair> = block.decoded.fields.iter().map(|x| (x.name.clone(), x.value.clone())).collect();
    let last = block.fragments.len().saturating_sub(1);
    let origin = |i: usize| match earlier.get(i) {
        _ if i == last => Some((f.packet, f.carriers.as_slice())),
        Some(o) => Some((o.packet, o.carriers.as_slice())),
        None => None,
    };
    let spans = block
        .fragments
        .iter()
        .enumerate()
        .filter_map(|(i, &(offset, len))| {
            let (packet, carriers) = origin(i)?;
            span(f.dir, carriers, offset, len, packet)
        })
        .collect();
    let slots = block.decoded.fields.iter().enumerate().filter_map(|(i, x)| Some((i, x.slot?))).collect();
    // Problems of the stream itself travel with the head to the call.
    let notes =
        f.notes.iter().filter(|n| matches!(n.code, NoteCode::StreamIdReused | NoteCode::EvenStream)).cloned().collect();
    Head { fields, spans, slots, dropped: block.decoded.dropped, wire: Some(block.clone()), notes }
}
