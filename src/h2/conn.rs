//! One connection's HTTP/2 decoder: checks the client preface, cuts both
//! byte streams into frames (zero-copy when a segment holds whole frames),
//! finds frame boundaries again after lost bytes, and hands each frame to
//! the block, stream and settings bookkeeping in [`super::process`]. The
//! decoder chain's detector decided that the connection is HTTP/2 (or that
//! its start was not captured and HTTP/2 is to be looked for).

use super::detect::{self, Evidence, Sync};
use super::direction::{BlockState, DirState, Mode};
use super::frame::{FrameHeader, HEADER_LEN, PREFACE};
use super::hpack;
use super::streams::Streams;
use super::types::{H2Event, H2Summary, Level, Note};
use crate::exchange::Protocol;
use crate::notes::NoteCode;
use crate::tcp::{ConnId, Dir};
use crate::time::Timestamp;
use bytes::{Bytes, BytesMut};

/// Settings of the HTTP/2 layer.
#[derive(Debug, Clone)]
pub struct H2Config {
    /// `--h2-port`: servers on these ports speak HTTP/2 even without a captured preface.
    pub h2_ports: Vec<u16>,
    /// HPACK memory limits.
    pub hpack: hpack::Limits,
    /// Largest header block (HEADERS + CONTINUATIONs) assembled; past it the
    /// block is dropped (the CONTINUATION-flood defence).
    pub max_header_block: usize,
    /// Streams tracked at once per connection.
    pub max_streams: usize,
    /// Bytes examined per direction while looking for frame boundaries.
    pub resync_window: usize,
    /// Keep a copy of each dynamic table after every header block (for `frames -v`).
    pub snapshot_tables: bool,
    /// Frames the decoder chain looks at to tell client from server (in a
    /// capture without the SYN) before it keeps the port numbers' guess.
    pub max_held_frames: usize,
    /// Header bytes kept across all open streams and connections.
    pub open_headers: std::sync::Arc<super::header_budget::HeaderBudget>,
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            h2_ports: Vec::new(),
            hpack: hpack::Limits::default(),
            max_header_block: 1024 * 1024,
            max_streams: 10_000,
            resync_window: 256 * 1024,
            snapshot_tables: false,
            max_held_frames: 512,
            open_headers: Default::default(),
        }
    }
}

/// How the decoder begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The detector saw the connection begin as HTTP/2 (a client preface,
    /// or a server's SETTINGS first): the preface is checked, frames follow.
    Preface,
    /// The start is not known to be HTTP/2 (not captured, or `--h2-port`
    /// named the port): frame boundaries are looked for in both directions.
    Search,
}

/// The HTTP/2 decoder of one TCP connection.
pub struct H2Conn {
    pub(crate) id: ConnId,
    pub(crate) cfg: std::sync::Arc<H2Config>,
    pub(crate) start_seen: bool,
    port_forced: bool,
    /// What the first header block with pseudo-headers said about who is
    /// who: `Some(true)` when it showed the TCP layer's client to be the
    /// server. The decoder chain settles roles on it; this decoder only reports.
    pub(crate) roles_shown: Option<bool>,
    pub(crate) dirs: [DirState; 2],
    pub(crate) streams: Streams,
    pub(crate) summary: H2Summary,
    /// SETTINGS, PING and GOAWAY records.
    pub(crate) records: super::records::Records,
}

impl H2Conn {
    /// A decoder for connection `id` whose server listens on `server_port`;
    /// `start_seen` when its SYN was captured (its HPACK tables and streams
    /// are then known from the start).
    pub fn new(id: ConnId, cfg: std::sync::Arc<H2Config>, server_port: u16, start_seen: bool, start: Start) -> Self {
        let port_forced = cfg.h2_ports.contains(&server_port);
        let complete = start_seen;
        let (client, server) = match start {
            Start::Preface => (Mode::Preface, Mode::Framing),
            Start::Search => (Mode::Searching(0), Mode::Searching(0)),
        };
        let mut summary = H2Summary::new();
        if start == Start::Preface {
            summary.protocol = Protocol::Http2;
            summary.evidence = Some(Evidence::Preface);
        }
        H2Conn {
            id,
            start_seen,
            port_forced,
            roles_shown: None,
            dirs: [DirState::new(client, complete, cfg.hpack), DirState::new(server, complete, cfg.hpack)],
            streams: Streams::new(start_seen, cfg.max_streams, cfg.open_headers.clone()),
            summary,
            records: super::records::Records::default(),
            cfg,
        }
    }

    /// What the connection carries, as far as known.
    pub fn protocol(&self) -> Protocol {
        self.summary.protocol
    }

    /// Whether the content showed the TCP layer's client and server
    /// reversed (`Some(true)`), confirmed them (`Some(false)`), or has not
    /// said yet: the first header block carrying `:method`, `:path`,
    /// `:scheme`, `:authority` or `:status` tells.
    pub fn roles_shown(&self) -> Option<bool> {
        self.roles_shown
    }

    /// Frames decoded so far, both ways.
    pub fn frames_seen(&self) -> u64 {
        self.summary.frames.iter().sum()
    }

    /// The HTTP/2 facts gathered so far.
    pub fn summary(&self) -> H2Summary {
        let mut s = self.summary.clone();
        s.streams = self.streams.opened;
        self.records.fill(&mut s);
        s
    }

    /// In-order bytes of `dir` at stream `offset`.
    pub fn data(&mut self, dir: Dir, ts: Timestamp, offset: u64, data: Bytes, packet: u64, out: &mut Vec<H2Event>) {
        let Some(ds) = self.dirs.get_mut(dir.index()) else {
            return;
        };
        match ds.mode {
            Mode::Ignoring => {}
            Mode::Preface => {
                append(ds, offset, &data, ts, packet);
                self.client_preface(ts, packet, out);
            }
            Mode::Searching(_) => {
                append(ds, offset, &data, ts, packet);
                self.search(dir);
                self.drain(dir, ts, packet, out);
            }
            Mode::Framing => self.frames(dir, ts, offset, data, packet, out),
        }
    }

    /// `len` bytes of `dir` were never captured, starting at `offset`.
    pub fn gap(&mut self, dir: Dir, ts: Timestamp, offset: u64, len: u64, out: &mut Vec<H2Event>) {
        let Some(mode) = self.dirs.get(dir.index()).map(|d| d.mode) else {
            return;
        };
        match mode {
            Mode::Ignoring => return,
            Mode::Preface if dir == Dir::ToServer => {
                // The client's first bytes are gone: the preface cannot be checked.
                for d in &mut self.dirs {
                    d.mode = Mode::Searching(0);
                }
            }
            Mode::Framing => match self.fill_inside_frame(dir, offset, len, ts, out) {
                Some(0) => return,
                Some(beyond) => {
                    self.lose_sync(dir, ts, beyond, out);
                    return;
                }
                None => {}
            },
            _ => {}
        }
        self.lose_sync(dir, ts, len, out);
    }

    /// If the lost bytes begin inside the payload of the frame being read,
    /// that frame survives: the hole is zero-filled and marked missing, and
    /// the frame is emitted once complete. Returns how many lost bytes lie
    /// beyond the frame's end (framing is lost from there), or `None` when
    /// the gap does not begin inside a frame whose header we hold.
    fn fill_inside_frame(
        &mut self,
        dir: Dir,
        offset: u64,
        len: u64,
        ts: Timestamp,
        out: &mut Vec<H2Event>,
    ) -> Option<u64> {
        let ds = self.dirs.get_mut(dir.index())?;
        let h = FrameHeader::parse(&ds.buf)?;
        let frame_end = ds.buf_offset + h.total_len() as u64;
        if ds.buf_offset + ds.buf.len() as u64 != offset || offset >= frame_end {
            return None;
        }
        let inside = len.min(frame_end - offset);
        let start = ds.buf.len() - HEADER_LEN;
        ds.buf.resize(ds.buf.len() + inside as usize, 0);
        let end = ds.buf.len() - HEADER_LEN;
        ds.buf_missing = Some(match ds.buf_missing.take() {
            Some(r) => r.start..end,
            None => start..end,
        });
        out.push(H2Event::Lost { conn: self.id, dir, ts, bytes: inside, framing_lost: false });
        self.drain(dir, ts, 0, out);
        Some(len - inside)
    }

    /// Bytes were lost between frames: frame boundaries and the HPACK table
    /// of `dir` are no longer known.
    fn lose_sync(&mut self, dir: Dir, ts: Timestamp, len: u64, out: &mut Vec<H2Event>) {
        let conn = self.id;
        let Some(ds) = self.dirs.get_mut(dir.index()) else {
            return;
        };
        let dropped = ds.buf.len() as u64;
        ds.buf.clear();
        ds.segs.clear();
        ds.buf_missing = None;
        ds.hpack.lose_track();
        ds.block = BlockState::None;
        ds.mode = Mode::Searching(dropped);
        out.push(H2Event::Lost { conn, dir, ts, bytes: len + dropped, framing_lost: true });
    }

    /// Checks the client's first bytes for the connection preface.
    fn client_preface(&mut self, ts: Timestamp, packet: u64, out: &mut Vec<H2Event>) {
        let ds = &mut self.dirs[0];
        let n = ds.buf.len().min(PREFACE.len());
        let matches = ds.buf.get(..n) == PREFACE.get(..n);
        match (matches, n == PREFACE.len()) {
            (true, false) => {}
            (true, true) => {
                let offset = ds.buf_offset;
                let (pts, ppacket) = segment_at(&ds.segs, offset + PREFACE.len() as u64 - 1).unwrap_or((ts, packet));
                let _ = ds.buf.split_to(PREFACE.len());
                ds.buf_offset += PREFACE.len() as u64;
                ds.mode = Mode::Framing;
                self.summary.preface_ts = Some(pts);
                out.push(H2Event::Preface { conn: self.id, ts: pts, offset, packet: ppacket });
                self.drain(Dir::ToServer, ts, packet, out);
            }
            _ => {
                ds.pending_note = Some(Note::new(
                    Level::Error,
                    NoteCode::NoPreface,
                    "the client did not start with the HTTP/2 connection preface (PROTOCOL_ERROR)",
                ));
                ds.mode = Mode::Searching(0);
                let note = ds.pending_note.take();
                self.search(Dir::ToServer);
                if let Some(ds) = self.dirs.get_mut(0) {
                    ds.pending_note = note.or(ds.pending_note.take());
                }
                self.drain(Dir::ToServer, ts, packet, out);
            }
        }
    }

    /// Records what frame searching concluded: HTTP/2 (frames found), or
    /// something else, ignored from now on.
    fn settle(&mut self, protocol: Protocol, evidence: Option<Evidence>) {
        if self.summary.protocol != Protocol::Unknown {
            return;
        }
        self.summary.protocol = protocol;
        self.summary.evidence = evidence;
        if protocol != Protocol::Http2 {
            for d in &mut self.dirs {
                d.mode = Mode::Ignoring;
                d.buf = BytesMut::new();
                d.segs = Vec::new();
            }
        }
    }

    /// Looks for frame boundaries in the buffered bytes of `dir`.
    fn search(&mut self, dir: Dir) {
        let lenient = self.port_forced;
        let window = self.cfg.resync_window;
        let Some(ds) = self.dirs.get_mut(dir.index()) else {
            return;
        };
        let Mode::Searching(skipped) = ds.mode else {
            return;
        };
        let starts: Vec<usize> = ds.segs.iter().map(|(o, _, _)| o.saturating_sub(ds.buf_offset) as usize).collect();
        match detect::find_frames(&ds.buf, &starts, ds.max_frame_size, lenient) {
            Sync::At(at) => {
                let _ = ds.buf.split_to(at);
                ds.buf_offset += at as u64;
                ds.mode = Mode::Framing;
                let total = skipped + at as u64;
                if let Some(n) = self.summary.resyncs.get_mut(dir.index()) {
                    *n += 1;
                }
                if let Some(n) = self.summary.skipped_bytes.get_mut(dir.index()) {
                    *n += total;
                }
                let text = if total == 0 {
                    "frame boundaries found at the first byte captured".to_string()
                } else {
                    format!("frame boundaries found again after skipping {total} bytes")
                };
                ds.pending_note = Some(Note::new(Level::Info, NoteCode::Resynchronised, text));
                let evidence = if self.port_forced { Evidence::PortHint } else { Evidence::FrameSync };
                self.settle(Protocol::Http2, Some(evidence));
            }
            Sync::NeedMore if ds.buf.len() > window => {
                // Give up on these bytes but keep looking in what follows.
                let drop = ds.buf.len() - HEADER_LEN;
                let _ = ds.buf.split_to(drop);
                ds.buf_offset += drop as u64;
                ds.segs.clear();
                ds.mode = Mode::Searching(skipped + drop as u64);
                if self.summary.protocol == Protocol::Unknown
                    && self.dirs.iter().all(|d| matches!(d.mode, Mode::Searching(s) if s > window as u64))
                {
                    self.settle(Protocol::Other, None);
                }
            }
            Sync::NeedMore => {}
        }
    }

    /// In-order bytes of a direction that is reading frames. When nothing is
    /// pending, whole frames are sliced out of the segment without copying;
    /// only a frame cut by the segment's end is copied into the buffer.
    fn frames(&mut self, dir: Dir, ts: Timestamp, offset: u64, mut data: Bytes, packet: u64, out: &mut Vec<H2Event>) {
        let Some(ds) = self.dirs.get(dir.index()) else {
            return;
        };
        let mut off = offset;
        if ds.buf.is_empty() && ds.buf_missing.is_none() {
            while let Some(h) = FrameHeader::parse(&data) {
                let total = h.total_len();
                if data.len() < total {
                    break;
                }
                let frame = data.split_to(total);
                self.frame(dir, ts, packet, off, h, frame.slice(HEADER_LEN..), None, out);
                off += total as u64;
            }
        }
        if data.is_empty() {
            return;
        }
        if let Some(ds) = self.dirs.get_mut(dir.index()) {
            append(ds, off, &data, ts, packet);
        }
        self.drain(dir, ts, packet, out);
    }

    /// Cuts whole frames out of the buffer of `dir`.
    fn drain(&mut self, dir: Dir, ts: Timestamp, packet: u64, out: &mut Vec<H2Event>) {
        loop {
            let Some(ds) = self.dirs.get_mut(dir.index()) else {
                return;
            };
            if ds.mode != Mode::Framing {
                return;
            }
            let Some(h) = FrameHeader::parse(&ds.buf) else {
                return;
            };
            let total = h.total_len();
            if ds.buf.len() < total {
                return;
            }
            let frame = ds.buf.split_to(total).freeze();
            let off = ds.buf_offset;
            ds.buf_offset += total as u64;
            let missing = ds.buf_missing.take();
            // The frame belongs to the packet that carried its last byte.
            let (fts, fpacket) = segment_at(&ds.segs, ds.buf_offset - 1).unwrap_or((ts, packet));
            forget_segments_before(&mut ds.segs, ds.buf_offset);
            self.frame(dir, fts, fpacket, off, h, frame.slice(HEADER_LEN..), missing, out);
        }
    }

    /// The connection closed or the capture ended: what is left is noted.
    pub fn finish(&mut self) {
        if self.summary.protocol == Protocol::Unknown && self.start_seen && self.dirs.iter().any(|d| !d.buf.is_empty())
        {
            self.settle(Protocol::Other, None);
        }
    }
}

/// Buffers bytes that arrived at stream `offset` in packet `packet`.
fn append(ds: &mut DirState, offset: u64, data: &[u8], ts: Timestamp, packet: u64) {
    if ds.buf.is_empty() {
        ds.buf_offset = offset;
        ds.segs.clear();
    }
    if ds.segs.len() >= 4096 {
        ds.segs.remove(0);
    }
    ds.segs.push((offset, ts, packet));
    ds.buf.extend_from_slice(data);
}

/// Time and packet of the segment holding stream byte `at`.
fn segment_at(segs: &[(u64, Timestamp, u64)], at: u64) -> Option<(Timestamp, u64)> {
    segs.iter().rev().find(|(o, _, _)| *o <= at).map(|(_, t, p)| (*t, *p))
}

/// Drops segment records wholly before stream offset `at`, keeping the one
/// that covers `at`.
fn forget_segments_before(segs: &mut Vec<(u64, Timestamp, u64)>, at: u64) {
    let keep_from = segs.iter().rposition(|(o, _, _)| *o <= at).unwrap_or(0);
    if keep_from > 0 {
        segs.drain(..keep_from);
    }
}
