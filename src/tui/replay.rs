//! Re-reading the capture for what the lists keep only as summaries: the
//! whole frame or call behind the selected row, decoded again from its
//! connection's first packet (HPACK state and TCP reassembly need every
//! packet before it) up to the frame or to the end of the call. Only that
//! connection's packets are decoded; the others are read past.
//!
//! A worker thread does it, so the keys stay answered while a large capture
//! is re-read; a newer request cancels the one under way.

use super::kept::{call_key, masks_data, whole_frame, CallKey, FrameKey, FullFrame};
use super::rows::FrameMeta;
use crate::analysis::pipeline::Focus;
use crate::analysis::{Flow, Pipeline, PipelineConfig, Sink, Stop, CONTINUE};
use crate::capture::FileCapture;
use crate::grpc::{Call, GrpcEvent};
use crate::h2::H2Event;
use crate::present::data_layout::DataLayouts;
use crate::tcp::{ConnId, StreamEvent};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// Where the re-reads read: the capture file (or a live capture's `-w`
/// file) and how the loader decoded it.
#[derive(Clone)]
pub struct Reread {
    /// The file.
    pub path: PathBuf,
    /// The loader's configuration.
    pub cfg: PipelineConfig,
}

/// Where a connection begins in the capture, and between which ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Its first packet.
    pub packet: u64,
    /// Client address.
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
}

/// What a re-read looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The `nth` frame of a connection, which the list says `packet` completed.
    Frame {
        /// Which.
        key: FrameKey,
        /// The packet that completed it when the capture was first read.
        packet: u64,
    },
    /// A call, by its connection, stream and start.
    Call(CallKey),
}

impl Want {
    /// The frame behind a row.
    pub fn frame(m: &FrameMeta) -> Want {
        Want::Frame { key: (m.conn, m.nth), packet: m.packet }
    }

    /// The call behind a row.
    pub fn call(c: &Call) -> Want {
        Want::Call(call_key(c))
    }

    fn conn(self) -> ConnId {
        match self {
            Want::Frame { key, .. } => key.0,
            Want::Call(key) => key.0,
        }
    }
}

/// What a re-read found.
pub enum Found {
    /// The frame.
    Frame(FrameKey, FullFrame),
    /// The call, whole.
    Call(CallKey, Box<Call>),
    /// Nothing: why.
    Missing(Want, String),
    /// Given up for a newer request.
    Cancelled(Want),
}

impl Found {
    /// What it answers.
    pub fn want(&self) -> Want {
        match self {
            Found::Frame(key, (f, _)) => Want::Frame { key: *key, packet: f.packet },
            Found::Call(key, _) => Want::Call(*key),
            Found::Missing(w, _) | Found::Cancelled(w) => *w,
        }
    }
}

/// Packets read between looks at the cancel flag.
const CANCEL_CHECK: u64 = 4096;

/// Re-reads `source` for `want` on the connection that `opened` tells of.
pub fn find(source: &Reread, want: Want, opened: Opened, cancel: &AtomicBool) -> Found {
    let mut cap = match FileCapture::open(&source.path) {
        Ok(c) => c.with_key_store(source.cfg.tls_keys.clone()),
        Err(e) => return Found::Missing(want, format!("could not re-read {}: {e}", source.path.display())),
    };
    let mut cfg = source.cfg.clone();
    cfg.focus = Some(Focus { a: opened.client, b: opened.server });
    let mask_data = masks_data(&cfg);
    let finder = Finder { want, conn: None, frames: 0, layouts: DataLayouts::default(), mask_data, found: None };
    let mut p = Pipeline::new(cfg, finder);
    let mut read = 0u64;
    while let Some(pkt) = cap.next_packet() {
        read += 1;
        if read.is_multiple_of(CANCEL_CHECK) && cancel.load(Ordering::Relaxed) {
            return Found::Cancelled(want);
        }
        // The connection's first packet opens it again under the same ends.
        if pkt.number < opened.packet {
            continue;
        }
        if p.packet(&pkt).is_break() {
            break;
        }
    }
    if p.sink.found.is_none() {
        p.finish();
    }
    p.sink.found.take().map_or_else(
        || Found::Missing(want, format!("the re-read of {} did not find it again", source.path.display())),
        |f| f.renumbered(want.conn()),
    )
}

impl Found {
    /// The re-read numbers its one connection afresh: give it the list's number.
    fn renumbered(self, conn: ConnId) -> Found {
        match self {
            Found::Frame((_, nth), (f, layout)) => {
                let mut f = Arc::unwrap_or_clone(f);
                f.conn = conn;
                Found::Frame((conn, nth), (Arc::new(f), layout))
            }
            Found::Call((_, s, t), mut c) => {
                c.conn = conn;
                Found::Call((conn, s, t), c)
            }
            other => other,
        }
    }
}

/// The sink of a re-read: watches the first connection it opens.
struct Finder {
    want: Want,
    conn: Option<ConnId>,
    /// That connection's frames so far.
    frames: u32,
    layouts: DataLayouts,
    /// `--redact-field`: DATA payloads are shown zeroed, as the loader shows them.
    mask_data: bool,
    found: Option<Found>,
}

impl Finder {
    fn done(&mut self, found: Found) -> Flow {
        self.found = Some(found);
        Flow::Break(Stop::Done)
    }

    fn frame(&mut self, f: &crate::h2::Frame) -> Flow {
        let layout = self.layouts.frame(f);
        let nth = self.frames;
        self.frames = self.frames.saturating_add(1);
        let Want::Frame { key, packet } = self.want else { return CONTINUE };
        if nth != key.1 {
            return CONTINUE;
        }
        if f.packet != packet {
            let why = format!("the re-read found packet {} where the list has packet {packet}", f.packet);
            return self.done(Found::Missing(self.want, why));
        }
        self.done(Found::Frame(key, whole_frame(f, layout, self.mask_data)))
    }
}

impl Sink for Finder {
    fn stream_event(&mut self, ev: &StreamEvent) -> Flow {
        if let StreamEvent::Open { conn, .. } = ev {
            self.conn.get_or_insert(*conn);
        }
        CONTINUE
    }

    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        match ev {
            H2Event::Frame(f) if Some(f.conn) == self.conn => self.frame(f),
            H2Event::Lost { conn, dir, framing_lost: true, .. } if Some(*conn) == self.conn => {
                self.layouts.lost(*conn, *dir);
                CONTINUE
            }
            _ => CONTINUE,
        }
    }

    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        let (GrpcEvent::Finished(c), Want::Call(key)) = (ev, self.want) else { return CONTINUE };
        if Some(c.conn) == self.conn && c.stream_id == key.1 && c.start == key.2 {
            return self.done(Found::Call(key, c));
        }
        CONTINUE
    }
}

struct Job {
    want: Want,
    opened: Opened,
    cancel: Arc<AtomicBool>,
}

/// The worker that re-reads.
pub struct Replayer {
    jobs: Option<Sender<Job>>,
    done: Receiver<Found>,
    current: Option<(Want, Arc<AtomicBool>)>,
    /// What it reads, for the details panes to say.
    pub source: PathBuf,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Replayer {
    /// Starts the worker over `source`.
    pub fn spawn(source: Reread) -> Replayer {
        let (jobs, rx) = channel::<Job>();
        let (tx, done) = channel();
        let path = source.path.clone();
        let handle = std::thread::Builder::new()
            .name("grpcscope-reread".into())
            .spawn(move || {
                for job in rx {
                    if job.cancel.load(Ordering::Relaxed) {
                        continue;
                    }
                    let found = find(&source, job.want, job.opened, &job.cancel);
                    if !job.cancel.load(Ordering::Relaxed) && tx.send(found).is_err() {
                        return;
                    }
                }
            })
            .ok();
        Replayer { jobs: Some(jobs), done, current: None, source: path, handle }
    }

    /// Asks for `want` (on the connection `opened` tells of), cancelling
    /// any other re-read under way; nothing new when it is the one under way.
    pub fn request(&mut self, want: Want, opened: Opened) {
        if self.current.as_ref().is_some_and(|(w, _)| *w == want) {
            return;
        }
        if let Some((_, cancel)) = self.current.take() {
            cancel.store(true, Ordering::Relaxed);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        if let Some(jobs) = &self.jobs {
            if jobs.send(Job { want, opened, cancel: cancel.clone() }).is_ok() {
                self.current = Some((want, cancel));
            }
        }
    }

    /// The re-read under way.
    pub fn pending(&self) -> Option<Want> {
        self.current.as_ref().map(|(w, _)| *w)
    }

    /// What re-reads found since the last look.
    pub fn poll(&mut self) -> Vec<Found> {
        let found: Vec<Found> = self.done.try_iter().collect();
        self.settle(&found);
        found
    }

    /// Waits up to `timeout` for the re-read under way (tests, screenshots).
    pub fn wait(&mut self, timeout: Duration) -> Option<Found> {
        self.pending()?;
        match self.done.recv_timeout(timeout) {
            Ok(f) => {
                self.settle(std::slice::from_ref(&f));
                Some(f)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    fn settle(&mut self, found: &[Found]) {
        if found.iter().any(|f| self.pending() == Some(f.want())) {
            self.current = None;
        }
    }
}

impl Drop for Replayer {
    fn drop(&mut self) {
        if let Some((_, cancel)) = self.current.take() {
            cancel.store(true, Ordering::Relaxed);
        }
        // Closing the queue ends the worker's loop.
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What the details pane says while a re-read is under way.
pub fn describe(source: &std::path::Path, opened: Opened) -> String {
    format!(
        "re-reading {} from packet {} (this connection's first) to decode it again…",
        source.display(),
        opened.packet
    )
}
