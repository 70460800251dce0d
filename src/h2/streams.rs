//! Stream states (RFC 9113 §5.1) and flow-control windows (§5.2, §6.9) of
//! one connection, as an observer reconstructs them.

use super::frame::{flags, Body, FrameHeader};
use super::header_budget::HeaderBudget;
use super::types::{FlowInfo, Level, Note, StreamState};
use crate::notes::NoteCode;
use crate::tcp::Dir;
use ahash::AHashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// The initial window of every stream and of the connection (§6.9.2).
pub const DEFAULT_WINDOW: i64 = 65_535;
/// One connection's open streams keep at most this fraction of the header budget.
const CONNECTION_SHARE: usize = 4;
const MAX_WINDOW: i64 = (1 << 31) - 1;

#[derive(Debug)]
struct StreamInfo {
    state: StreamState,
    /// Send window of each direction, when known.
    window: [Option<i64>; 2],
    /// Header bytes charged to the open-headers budget for this stream.
    headers_kept: usize,
}

/// Every stream of a connection.
#[derive(Debug)]
pub struct Streams {
    map: AHashMap<u32, StreamInfo>,
    highest: [u32; 2],
    recently_reset: VecDeque<u32>,
    initial_window: [i64; 2],
    conn_window: [Option<i64>; 2],
    /// We saw the connection start, so every stream's history is known.
    start_known: bool,
    max_streams: usize,
    /// Streams opened so far.
    pub opened: u64,
    /// The header bytes open streams keep, shared by every connection.
    open_headers: Arc<HeaderBudget>,
    /// What this connection's open streams keep of it.
    kept_total: usize,
}

impl Streams {
    /// Streams of a connection; windows are tracked only when its start was seen.
    pub fn new(start_known: bool, max_streams: usize, open_headers: Arc<HeaderBudget>) -> Self {
        let w = start_known.then_some(DEFAULT_WINDOW);
        Streams {
            map: AHashMap::new(),
            highest: [0; 2],
            recently_reset: VecDeque::new(),
            initial_window: [DEFAULT_WINDOW; 2],
            conn_window: [w, w],
            start_known,
            max_streams,
            opened: 0,
            open_headers,
            kept_total: 0,
        }
    }

    /// Charges `bytes` of decoded header list kept for stream `sid` until it
    /// closes. A stream not tracked (closed by this very frame, or never
    /// admitted) keeps nothing open.
    pub fn keep_headers(&mut self, sid: u32, bytes: usize) {
        if let Some(s) = self.map.get_mut(&sid) {
            s.headers_kept = s.headers_kept.saturating_add(bytes);
            self.kept_total = self.kept_total.saturating_add(bytes);
            self.open_headers.charge(bytes);
        }
    }

    /// Header memory a new block may keep: what the shared budget has
    /// left, and no more than a quarter of it for all of this connection's
    /// open streams, so that one connection cannot take the others' share.
    pub fn header_allowance(&self) -> usize {
        let kept: usize = self.kept_total;
        let share = (self.open_headers.limit() / CONNECTION_SHARE).saturating_sub(kept);
        self.open_headers.left().min(share)
    }

    /// Forgets stream `sid`, releasing what it kept.
    fn remove(&mut self, sid: u32) {
        if let Some(s) = self.map.remove(&sid) {
            self.kept_total = self.kept_total.saturating_sub(s.headers_kept);
            self.open_headers.release(s.headers_kept);
        }
    }

    /// Streams tracked right now.
    pub fn open_count(&self) -> usize {
        self.map.len()
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE changed for data flowing in `dir` (§6.9.2).
    pub fn set_initial_window(&mut self, dir: Dir, value: u32, notes: &mut Vec<Note>) {
        let value = i64::from(value);
        if value > MAX_WINDOW {
            notes.push(Note::new(
                Level::Error,
                NoteCode::FlowControlError,
                format!("INITIAL_WINDOW_SIZE {value} exceeds 2^31-1 (FLOW_CONTROL_ERROR)"),
            ));
            return;
        }
        let i = dir.index();
        let Some(old) = self.initial_window.get(i).copied() else {
            return;
        };
        let delta = value - old;
        for s in self.map.values_mut() {
            if let Some(Some(w)) = s.window.get_mut(i) {
                *w += delta;
            }
        }
        if let Some(w) = self.initial_window.get_mut(i) {
            *w = value;
        }
    }

    /// Updates stream state and windows for a frame sent in `dir`.
    pub fn on_frame(
        &mut self,
        dir: Dir,
        h: &FrameHeader,
        body: &Body,
        notes: &mut Vec<Note>,
    ) -> (Option<StreamState>, Option<FlowInfo>) {
        let sid = h.stream_id;
        match body {
            Body::WindowUpdate { increment } => return (None, Some(self.window_update(dir, sid, *increment, notes))),
            Body::Settings { .. } | Body::Ping { .. } | Body::GoAway { .. } | Body::Unknown => return (None, None),
            Body::Malformed(_) if sid == 0 => return (None, None),
            _ if sid == 0 => return (None, None),
            _ => {}
        }
        if !self.map.contains_key(&sid) && !self.admit(dir, h, body, notes) {
            return (None, None);
        }
        if let Body::PushPromise { promised_stream_id, .. } = body {
            self.reserve(*promised_stream_id, notes);
        }
        let flow = match body {
            Body::Data { .. } => Some(self.consume(dir, sid, i64::from(h.length), notes)),
            _ => None,
        };
        let state = self.transition(dir, sid, h, body, notes);
        (state, flow)
    }

    /// Decides whether a frame on a stream we do not track opens one.
    fn admit(&mut self, dir: Dir, h: &FrameHeader, body: &Body, notes: &mut Vec<Note>) -> bool {
        let sid = h.stream_id;
        let i = dir.index();
        let highest = self.highest.get(i).copied().unwrap_or(0);
        let opens = matches!(body, Body::Headers { .. }) && dir == Dir::ToServer;
        if self.start_known && !opens {
            if !matches!(body, Body::RstStream { .. } | Body::Priority(_)) {
                let (level, text) = if self.recently_reset.contains(&sid) {
                    (
                        Level::Info,
                        format!("{} on stream {sid} after its RST_STREAM (in flight; allowed)", h.kind.name()),
                    )
                } else if sid <= self.highest.iter().copied().max().unwrap_or(0) {
                    (Level::Error, format!("{} on closed stream {sid} (STREAM_CLOSED)", h.kind.name()))
                } else {
                    (Level::Error, format!("{} on idle stream {sid} (PROTOCOL_ERROR)", h.kind.name()))
                };
                notes.push(Note::new(level, NoteCode::ClosedStream, text));
            }
            return false;
        }
        if opens && self.start_known && sid <= highest {
            notes.push(Note::new(
                Level::Error,
                NoteCode::StreamIdReused,
                format!("HEADERS opens stream {sid}, not above stream {highest} already used (PROTOCOL_ERROR)"),
            ));
            // Tracked all the same: its frames are a real exchange, and
            // flagging each one as on a closed stream would bury the point.
        }
        if opens && sid.is_multiple_of(2) {
            notes.push(Note::new(
                Level::Error,
                NoteCode::EvenStream,
                format!("the client opened even-numbered stream {sid} (PROTOCOL_ERROR)"),
            ));
        }
        if self.map.len() >= self.max_streams {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::StreamLimit,
                format!("{} streams are open; stream {sid} is not tracked (--max-streams)", self.map.len()),
            ));
            return false;
        }
        if let Some(h) = self.highest.get_mut(i) {
            *h = (*h).max(sid);
        }
        let info = self.new_stream(StreamState::Open);
        self.map.insert(sid, info);
        self.opened += 1;
        true
    }

    /// A stream starting now: its windows are the initial ones, when known.
    fn new_stream(&self, state: StreamState) -> StreamInfo {
        let w = |i: usize| self.start_known.then(|| self.initial_window.get(i).copied().unwrap_or(DEFAULT_WINDOW));
        StreamInfo { state, window: [w(0), w(1)], headers_kept: 0 }
    }

    fn reserve(&mut self, promised: u32, notes: &mut Vec<Note>) {
        if self.map.len() >= self.max_streams {
            notes.push(Note::new(
                Level::Warning,
                NoteCode::StreamLimit,
                format!("promised stream {promised} is not tracked (--max-streams)"),
            ));
            return;
        }
        if let Some(h) = self.highest.get_mut(1) {
            *h = (*h).max(promised);
        }
        self.map.insert(promised, self.new_stream(StreamState::Reserved));
        self.opened += 1;
    }

    fn consume(&mut self, dir: Dir, sid: u32, len: i64, notes: &mut Vec<Note>) -> FlowInfo {
        let i = dir.index();
        let stream = self.map.get_mut(&sid).and_then(|s| s.window.get_mut(i)).and_then(|w| w.as_mut()).map(|w| {
            let before = *w;
            *w -= len;
            (before, *w)
        });
        let connection = self.conn_window.get_mut(i).and_then(|w| w.as_mut()).map(|w| {
            let before = *w;
            *w -= len;
            (before, *w)
        });
        for (what, win) in [("stream", stream), ("connection", connection)] {
            if let Some((before, after)) = win {
                if after < 0 {
                    notes.push(Note::new(
                        Level::Error,
                        NoteCode::FlowControlViolation,
                        format!(
                            "{len} bytes of DATA with only {before} left in the {what} window (FLOW_CONTROL_ERROR)"
                        ),
                    ));
                }
            }
        }
        FlowInfo { window_of: dir, stream, connection }
    }

    fn window_update(&mut self, dir: Dir, sid: u32, increment: u32, notes: &mut Vec<Note>) -> FlowInfo {
        // The receiver of data in the other direction grants more room.
        let credited = dir.other();
        let i = credited.index();
        let inc = i64::from(increment);
        if increment == 0 {
            notes.push(Note::new(
                Level::Error,
                NoteCode::ZeroWindowIncrement,
                "WINDOW_UPDATE with increment 0 (PROTOCOL_ERROR)",
            ));
        }
        let mut apply = |w: &mut i64| {
            let before = *w;
            *w += inc;
            if *w > MAX_WINDOW {
                notes.push(Note::new(
                    Level::Error,
                    NoteCode::WindowOverflow,
                    format!("window grows to {} past 2^31-1 (FLOW_CONTROL_ERROR)", *w),
                ));
            }
            (before, *w)
        };
        let (stream, connection) = if sid == 0 {
            (None, self.conn_window.get_mut(i).and_then(|w| w.as_mut()).map(&mut apply))
        } else {
            (self.map.get_mut(&sid).and_then(|s| s.window.get_mut(i)).and_then(|w| w.as_mut()).map(&mut apply), None)
        };
        FlowInfo { window_of: credited, stream, connection }
    }

    fn transition(
        &mut self,
        dir: Dir,
        sid: u32,
        h: &FrameHeader,
        body: &Body,
        notes: &mut Vec<Note>,
    ) -> Option<StreamState> {
        let s = self.map.get_mut(&sid)?;
        let end_stream = matches!(body, Body::Data { .. } | Body::Headers { .. }) && h.has(flags::END_STREAM);
        let sender_done = match dir {
            Dir::ToServer => matches!(s.state, StreamState::HalfClosedClient | StreamState::Closed),
            Dir::ToClient => matches!(s.state, StreamState::HalfClosedServer | StreamState::Closed),
        };
        if sender_done && matches!(body, Body::Data { .. } | Body::Headers { .. }) {
            notes.push(Note::new(
                Level::Error,
                NoteCode::AfterEndStream,
                format!("{} on stream {sid} after its sender's END_STREAM (STREAM_CLOSED)", h.kind.name()),
            ));
        }
        if s.state == StreamState::Reserved && matches!(body, Body::Headers { .. }) {
            s.state = StreamState::HalfClosedClient;
        }
        if matches!(body, Body::RstStream { .. }) {
            s.state = StreamState::Closed;
            self.recently_reset.push_back(sid);
            if self.recently_reset.len() > 64 {
                self.recently_reset.pop_front();
            }
        } else if end_stream {
            s.state = match (s.state, dir) {
                (StreamState::Open, Dir::ToServer) => StreamState::HalfClosedClient,
                (StreamState::Open, Dir::ToClient) => StreamState::HalfClosedServer,
                _ => StreamState::Closed,
            };
        }
        let state = s.state;
        if state == StreamState::Closed {
            self.remove(sid);
        }
        Some(state)
    }
}

impl Drop for Streams {
    /// A connection that ends (or is evicted) releases its open streams' headers.
    fn drop(&mut self) {
        self.open_headers.release(self.kept_total);
    }
}
