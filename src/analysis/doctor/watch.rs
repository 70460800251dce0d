//! Per-connection watchers fed every HTTP/2 frame: the limits a peer
//! enforces that slow calls, or will end connections, without failing
//! anything yet. [`StreamLimitWatch`] sees streams open at the server's
//! SETTINGS_MAX_CONCURRENT_STREAMS while more calls wait; [`StallWatch`]
//! sees a sender that used all of its flow-control window and waited for a
//! WINDOW_UPDATE before it could go on; [`PingWatch`] counts the client
//! pings a gRPC server's keepalive enforcement would hold against it.
//!
//! Both read what the h2 layer already decided (stream states, windows
//! before and after each frame) and keep a few numbers per connection.

use super::MAX_EVIDENCE;
use crate::h2::frame::{flags, setting, Body};
use crate::h2::{Frame, StreamState};
use crate::tcp::Dir;
use crate::time::Timestamp;
use ahash::{AHashMap, AHashSet};

/// A new stream opened at most this long after one closed at the limit was
/// waiting for it (the client queues calls while the limit is reached; the
/// time allows one round trip inside a data centre).
pub const QUEUED_WITHIN_NANOS: i64 = 10_000_000;
/// A wait at a zero window shorter than this is a round trip, not a stall.
pub const MIN_STALL_NANOS: i64 = 10_000_000;
/// The ping interval a C-core or grpc-go server accepts by default while
/// it sends nothing (C-core's `grpc.http2.min_ping_interval_without_data_ms`,
/// grpc-go's `EnforcementPolicy.MinTime`): 5 minutes.
pub const MIN_PING_INTERVAL_NANOS: i64 = 300 * 1_000_000_000;
/// Pings too soon such a server tolerates (C-core's
/// `grpc.http2.max_ping_strikes`, grpc-go's fixed 2): the next one ends the
/// connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
pub const PING_STRIKES_ALLOWED: u64 = 2;
/// Open streams tracked per connection at most (hostile input may open more
/// than any limit it announces).
const MAX_TRACKED: usize = 10_000;
/// Windows waiting for a WINDOW_UPDATE tracked per direction at most.
const MAX_PENDING: usize = 1_024;
/// Keeps `x` among the first [`MAX_EVIDENCE`] distinct items of `v`
/// (packets or streams named as evidence).
fn keep<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if v.len() < MAX_EVIDENCE && !v.contains(&x) {
        v.push(x);
    }
}

/// Streams the client opened against the server's concurrency limit.
#[derive(Debug, Clone, Default)]
pub struct StreamLimitWatch {
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, once seen.
    pub limit: Option<u32>,
    /// Client streams open now.
    open: AHashSet<u32>,
    /// Most client streams open at once.
    pub peak: usize,
    /// Times the open streams reached the limit.
    pub reached: u64,
    /// Streams opened within [`QUEUED_WITHIN_NANOS`] of a stream closing at
    /// the limit: calls that had waited for it.
    pub queued: u64,
    /// Time spent at the limit, in nanoseconds.
    pub nanos_at_limit: i64,
    at_limit_since: Option<Timestamp>,
    /// When a stream last closed while the limit was reached.
    left_limit: Option<Timestamp>,
    /// When a stream last closed.
    last_close: Option<Timestamp>,
    /// Packets of the frames that show it (streams opening after a wait).
    pub packets: Vec<u64>,
    /// The streams that waited (the first few).
    pub queued_streams: Vec<u32>,
}

impl StreamLimitWatch {
    /// Reads one frame of the connection.
    pub fn frame(&mut self, f: &Frame) {
        match &f.body {
            Body::Settings { ack: false, params } if f.dir == Dir::ToClient => {
                if let Some(&(_, v)) = params.iter().rev().find(|(id, _)| *id == setting::MAX_CONCURRENT_STREAMS) {
                    self.limit = Some(v);
                }
            }
            Body::Headers { .. }
                if f.dir == Dir::ToServer
                    && !self.open.contains(&f.header.stream_id)
                    && f.state.is_some_and(|s| s != StreamState::Closed) =>
            {
                self.opened(f);
            }
            _ => {}
        }
        if f.state == Some(StreamState::Closed) && self.open.remove(&f.header.stream_id) {
            self.closed(f.ts);
        }
    }

    fn at_limit(&self) -> bool {
        self.limit.is_some_and(|l| self.open.len() as u64 >= u64::from(l))
    }

    fn opened(&mut self, f: &Frame) {
        // Waiting streams open in a burst as soon as streams close at the
        // limit: each within a moment of the last close, which itself came
        // within a moment of leaving the limit.
        let soon = |t: Option<Timestamp>| t.is_some_and(|t| f.ts.nanos_since(t) <= QUEUED_WITHIN_NANOS);
        if soon(self.left_limit) && soon(self.last_close) {
            self.queued += 1;
            keep(&mut self.packets, f.packet);
            keep(&mut self.queued_streams, f.header.stream_id);
        }
        if self.open.len() >= MAX_TRACKED {
            return;
        }
        self.open.insert(f.header.stream_id);
        self.peak = self.peak.max(self.open.len());
        if self.at_limit() && self.at_limit_since.is_none() {
            self.reached += 1;
            self.at_limit_since = Some(f.ts);
        }
    }

    fn closed(&mut self, ts: Timestamp) {
        if let Some(since) = self.at_limit_since.take() {
            self.nanos_at_limit = self.nanos_at_limit.saturating_add(ts.nanos_since(since).max(0));
            self.left_limit = Some(ts);
        }
        self.last_close = Some(ts);
        if self.at_limit() {
            self.at_limit_since = Some(ts);
        }
    }
}

/// Remembers that window `key` is used up (within [`MAX_PENDING`]).
fn exhaust(pending: &mut AHashMap<u32, Exhausted>, key: u32, e: Exhausted) {
    if pending.len() < MAX_PENDING || pending.contains_key(&key) {
        pending.insert(key, e);
    }
}

/// A window used up, waiting for credit.
#[derive(Debug, Clone, Copy)]
struct Exhausted {
    at: Timestamp,
    packet: u64,
    /// The WINDOW_UPDATE that gave credit back: when, and its packet.
    granted: Option<(Timestamp, u64)>,
}

/// One direction's senders at a zero window.
#[derive(Debug, Clone, Default)]
pub struct StallWatch {
    /// Windows (stream id; 0 for the connection's) at zero, per direction.
    pending: [AHashMap<u32, Exhausted>; 2],
    /// Stalls per direction (data flowing to the server, to the client):
    /// waits of at least [`MIN_STALL_NANOS`] after which the sender went on.
    pub stalls: [u64; 2],
    /// Of those, the connection's window (not a stream's) was the one at zero.
    pub connection_stalls: [u64; 2],
    /// Time the sender lost waiting, in nanoseconds.
    pub nanos: [i64; 2],
    /// The longest wait.
    pub longest: [i64; 2],
    /// Packets: the DATA that used the window up and the WINDOW_UPDATE that freed it.
    pub packets: [Vec<u64>; 2],
    /// The streams whose sender waited (the first few).
    pub streams: [Vec<u32>; 2],
}

impl StallWatch {
    /// Reads one frame of the connection.
    pub fn frame(&mut self, f: &Frame) {
        let sid = f.header.stream_id;
        match &f.body {
            Body::Data { .. } => self.data(f, sid),
            Body::WindowUpdate { .. } => {
                let Some(flow) = &f.flow else { return };
                let i = flow.window_of.index();
                if let Some(e) = self.pending.get_mut(i).and_then(|p| p.get_mut(&sid)) {
                    e.granted.get_or_insert((f.ts, f.packet));
                }
            }
            Body::RstStream { .. } => self.forget(sid),
            Body::Headers { .. } if f.header.has(flags::END_STREAM) => self.forget(sid),
            _ => {}
        }
    }

    /// The stream's sender has nothing more to send: its wait is no stall.
    fn forget(&mut self, sid: u32) {
        for p in &mut self.pending {
            p.remove(&sid);
        }
    }

    fn data(&mut self, f: &Frame, sid: u32) {
        let i = f.dir.index();
        // The sender goes on: a window it waited for was granted.
        for key in [sid, 0] {
            let done = self.pending.get(i).and_then(|p| p.get(&key)).is_some_and(|e| e.granted.is_some());
            if done {
                if let Some(e) = self.pending.get_mut(i).and_then(|p| p.remove(&key)) {
                    let stalled = self.confirm(i, key == 0, e);
                    if let Some(streams) = self.streams.get_mut(i).filter(|_| stalled && sid != 0) {
                        keep(streams, sid);
                    }
                }
            }
        }
        let Some(flow) = &f.flow else { return };
        let Some(pending) = self.pending.get_mut(i) else { return };
        let used_up = |w: Option<(i64, i64)>| w.is_some_and(|(_, after)| after <= 0);
        let now = Exhausted { at: f.ts, packet: f.packet, granted: None };
        if f.header.has(flags::END_STREAM) {
            pending.remove(&sid);
        } else if used_up(flow.stream) {
            exhaust(pending, sid, now);
        }
        if used_up(flow.connection) {
            exhaust(pending, 0, now);
        }
    }

    /// Counts a wait that ended, if it was long enough to be a stall.
    fn confirm(&mut self, i: usize, connection: bool, e: Exhausted) -> bool {
        let Some((granted, wu_packet)) = e.granted else { return false };
        let wait = granted.nanos_since(e.at);
        if wait < MIN_STALL_NANOS {
            return false;
        }
        if let Some(n) = self.stalls.get_mut(i) {
            *n += 1;
        }
        if connection {
            if let Some(n) = self.connection_stalls.get_mut(i) {
                *n += 1;
            }
        }
        if let Some(n) = self.nanos.get_mut(i) {
            *n = n.saturating_add(wait);
        }
        if let Some(n) = self.longest.get_mut(i) {
            *n = (*n).max(wait);
        }
        if let Some(p) = self.packets.get_mut(i) {
            keep(p, e.packet);
            keep(p, wu_packet);
        }
        true
    }
}

/// The client's PINGs, counted the way a C-core or grpc-go server enforces
/// its keepalive policy: a ping sooner than [`MIN_PING_INTERVAL_NANOS`]
/// after the previous one is a strike, unless the server sent HEADERS or
/// DATA since (sending them clears the strikes, in both implementations).
/// BDP pings, which follow the server's DATA, are never strikes.
#[derive(Debug, Clone, Default)]
pub struct PingWatch {
    /// The client's previous PING since the server last sent HEADERS or DATA.
    last_ping: Option<Timestamp>,
    /// Strikes since the server last sent HEADERS or DATA.
    strikes: u64,
    /// Client PINGs (not acknowledgements).
    pub pings: u64,
    /// Most strikes in a row.
    pub most_strikes: u64,
    /// The shortest wait between two pings that was a strike, in nanoseconds.
    pub shortest_nanos: Option<i64>,
    /// The ping past [`PING_STRIKES_ALLOWED`] strikes: where such a server
    /// would have sent its GOAWAY (the packet).
    pub fatal_packet: Option<u64>,
    /// Packets of the pings that were strikes (the first few).
    pub packets: Vec<u64>,
}

impl PingWatch {
    /// Reads one frame of the connection.
    pub fn frame(&mut self, f: &Frame) {
        match (&f.body, f.dir) {
            (Body::Ping { ack: false, .. }, Dir::ToServer) => self.ping(f),
            (Body::Headers { .. } | Body::Data { .. }, Dir::ToClient) => {
                self.strikes = 0;
                self.last_ping = None;
            }
            _ => {}
        }
    }

    fn ping(&mut self, f: &Frame) {
        self.pings += 1;
        if let Some(last) = self.last_ping {
            let wait = f.ts.nanos_since(last);
            if wait < MIN_PING_INTERVAL_NANOS {
                self.strikes += 1;
                self.most_strikes = self.most_strikes.max(self.strikes);
                self.shortest_nanos = Some(self.shortest_nanos.map_or(wait, |s| s.min(wait)));
                keep(&mut self.packets, f.packet);
                if self.strikes > PING_STRIKES_ALLOWED && self.fatal_packet.is_none() {
                    self.fatal_packet = Some(f.packet);
                }
            }
        }
        self.last_ping = Some(f.ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::FrameType;
    use crate::h2::FlowInfo;

    fn frame(dir: Dir, sid: u32, kind: FrameType, fl: u8, body: Body, ms: i64) -> Frame {
        let f = Frame::for_test(dir, sid, kind, fl, body, Vec::new());
        Frame { ts: Timestamp(ms * 1_000_000), packet: ms as u64, ..f }
    }

    #[test]
    fn a_stream_opened_right_after_one_closed_at_the_limit_had_waited() {
        let mut w = StreamLimitWatch::default();
        let settings = Body::Settings { ack: false, params: vec![(setting::MAX_CONCURRENT_STREAMS, 2)] };
        w.frame(&frame(Dir::ToClient, 0, FrameType::SETTINGS, 0, settings, 0));
        let open = |sid, ms| {
            let mut f = frame(Dir::ToServer, sid, FrameType::HEADERS, 0, headers(sid), ms);
            f.state = Some(StreamState::Open);
            f
        };
        let close = |sid, ms| {
            let mut f = frame(Dir::ToClient, sid, FrameType::HEADERS, flags::END_STREAM, headers(sid), ms);
            f.state = Some(StreamState::Closed);
            f
        };
        w.frame(&open(1, 1));
        w.frame(&open(3, 2));
        // Both close; the two calls that waited open at once.
        w.frame(&close(1, 100));
        w.frame(&close(3, 100));
        w.frame(&open(5, 101));
        w.frame(&open(7, 101));
        w.frame(&close(5, 200));
        // Opened 50 ms after the close: nothing waited for it.
        w.frame(&open(9, 250));
        assert_eq!((w.limit, w.peak, w.reached, w.queued), (Some(2), 2, 3, 2));
        assert_eq!(w.packets, vec![101]);
        assert_eq!(w.queued_streams, vec![5, 7]);
        assert_eq!(w.nanos_at_limit, 98_000_000 + 99_000_000);
    }

    fn headers(_sid: u32) -> Body {
        Body::Headers { pad_len: None, priority: None, fragment: 0..0 }
    }

    fn data(sid: u32, ms: i64, stream: (i64, i64), end: bool) -> Frame {
        let fl = if end { flags::END_STREAM } else { 0 };
        let mut f = frame(Dir::ToClient, sid, FrameType::DATA, fl, Body::Data { pad_len: None, data: 0..0 }, ms);
        f.flow = Some(Box::new(FlowInfo {
            window_of: Dir::ToClient,
            stream: Some(stream),
            connection: Some((1 << 20, 1 << 19)),
        }));
        f
    }

    fn update(sid: u32, ms: i64) -> Frame {
        let mut f = frame(Dir::ToServer, sid, FrameType::WINDOW_UPDATE, 0, Body::WindowUpdate { increment: 8192 }, ms);
        f.flow = Some(Box::new(FlowInfo { window_of: Dir::ToClient, stream: Some((0, 8192)), connection: None }));
        f
    }

    #[test]
    fn a_sender_that_waited_for_a_window_update_and_went_on_stalled() {
        let mut w = StallWatch::default();
        w.frame(&data(1, 0, (16_384, 0), false));
        w.frame(&update(1, 40));
        w.frame(&data(1, 41, (8192, 0), false));
        // A wait of one round trip is not a stall.
        w.frame(&update(1, 42));
        w.frame(&data(1, 43, (8192, 4096), false));
        let to_client = Dir::ToClient.index();
        assert_eq!(w.stalls[to_client], 1);
        assert_eq!(w.nanos[to_client], 40_000_000);
        assert_eq!(w.packets[to_client], vec![0, 40]);
        assert_eq!(w.streams[to_client], vec![1]);
    }

    #[test]
    fn a_window_used_up_by_the_last_data_is_no_stall() {
        let mut w = StallWatch::default();
        w.frame(&data(1, 0, (100, 0), true));
        w.frame(&update(1, 500));
        w.frame(&data(3, 501, (100, 50), false));
        assert_eq!(w.stalls, [0, 0]);
        // Nor one the sender never used again.
        w.frame(&data(5, 600, (100, 0), false));
        w.frame(&update(5, 900));
        assert_eq!(w.stalls, [0, 0]);
    }

    fn ping(dir: Dir, ms: i64) -> Frame {
        frame(dir, 0, FrameType::PING, 0, Body::Ping { ack: false, opaque: [0; 8] }, ms)
    }

    #[test]
    fn pings_without_the_servers_data_between_are_strikes() {
        let mut w = PingWatch::default();
        // Keepalive every 200 ms through a slow call: the first ping is free,
        // the next three are strikes, the third of them past the limit.
        for ms in [0, 200, 400, 600] {
            w.frame(&ping(Dir::ToServer, ms));
        }
        assert_eq!((w.pings, w.most_strikes, w.fatal_packet, w.shortest_nanos), (4, 3, Some(600), Some(200_000_000)));
        assert_eq!(w.packets, vec![200, 400, 600]);
    }

    #[test]
    fn the_servers_data_clears_the_strikes_so_bdp_pings_never_count() {
        let mut w = PingWatch::default();
        for ms in (0..20).map(|i| i * 10) {
            // A BDP ping answers each burst of DATA; the server's own pings do not count.
            w.frame(&data(1, ms, (65_535, 60_000), false));
            w.frame(&ping(Dir::ToServer, ms + 1));
            w.frame(&ping(Dir::ToClient, ms + 2));
        }
        assert_eq!((w.pings, w.most_strikes, w.fatal_packet), (20, 0, None));
        // Two pings 5 minutes apart are no strike either.
        w.frame(&ping(Dir::ToServer, 300_000 + 191));
        assert_eq!(w.most_strikes, 0);
    }
}
