//! The loader thread: runs the pipeline over the source and sends what it
//! finds to the UI, so the UI stays responsive while a large capture loads
//! (rows appear as they are decoded) or live traffic streams in.

use super::kept::{masks_data, whole_frame};
use super::model::{FrameRow, Msg};
use super::replay::Opened;
use super::rows::FrameMeta;
use crate::analysis::pipeline::ConnReport;
use crate::analysis::{Flow, Pipeline, PipelineConfig, Sink, Stop, CONTINUE};
use crate::capture::keylog_follow::KeyLogFollower;
use crate::capture::live::LiveCapture;
use crate::capture::FileCapture;
use crate::grpc::GrpcEvent;
use crate::h2::H2Event;
use crate::present::data_layout::DataLayouts;
use crate::tcp::ConnId;
use crate::tcp::StreamEvent;
use ahash::AHashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the UI's packets come from.
pub enum Source {
    /// A capture file, already opened (so that errors show before the UI starts).
    File(FileCapture),
    /// A live capture, already opened.
    Live {
        /// The capture.
        cap: LiveCapture,
        /// Stop after this many packets.
        count: Option<u64>,
        /// Stop after this long.
        duration: Option<Duration>,
    },
}

/// A running loader.
pub struct Loader {
    /// Messages to the UI.
    pub rx: Receiver<Msg>,
    /// Set to stop (quit, or Ctrl-C on a live capture).
    pub stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Loader {
    /// Stops the loader and waits for it (flushing a live capture's -w
    /// file); returns what it still sent (a live capture's last counters).
    /// Its messages are taken in while it winds down: it may be waiting
    /// for room in the channel.
    pub fn shutdown(&mut self) -> Vec<Msg> {
        self.stop.store(true, Ordering::SeqCst);
        let mut rest = Vec::new();
        if let Some(h) = self.handle.take() {
            while !h.is_finished() {
                if let Ok(m) = self.rx.recv_timeout(Duration::from_millis(10)) {
                    rest.push(m);
                }
            }
            let _ = h.join();
        }
        rest.extend(self.rx.try_iter());
        rest
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        drop(self.shutdown());
    }
}

/// Sends what the pipeline finds.
struct ToUi {
    tx: SyncSender<Msg>,
    /// `--redact-field`: DATA payloads reach the hex view zeroed ([`whole_frame`]).
    mask_data: bool,
    /// Where gRPC messages lie in the DATA frames.
    layouts: DataLayouts,
    /// Frames so far of each open connection: a frame's place, which a
    /// re-read counts to.
    frames: AHashMap<ConnId, u32>,
}

impl ToUi {
    fn new(tx: &SyncSender<Msg>, cfg: &PipelineConfig) -> ToUi {
        let mask_data = masks_data(cfg);
        ToUi { tx: tx.clone(), mask_data, layouts: DataLayouts::default(), frames: AHashMap::new() }
    }

    /// The row and the whole frame (masked as `--redact-field` asks).
    fn frame(&mut self, f: &crate::h2::Frame) -> Msg {
        let layout = self.layouts.frame(f);
        let n = self.frames.entry(f.conn).or_default();
        let meta = FrameMeta::of(f, layout.as_ref(), *n);
        *n = n.saturating_add(1);
        Msg::H2(meta, whole_frame(f, layout, self.mask_data))
    }
}

impl ToUi {
    /// The UI hung up (it was closed): the loader stops.
    fn deliver(&self, msg: Msg) -> Flow {
        match self.tx.send(msg) {
            Ok(()) => CONTINUE,
            Err(_) => Flow::Break(Stop::OutputClosed),
        }
    }
}

impl Sink for ToUi {
    fn stream_event(&mut self, ev: &StreamEvent) -> Flow {
        match ev {
            StreamEvent::Control { conn, dir, ts, flags, packet } => self.deliver(Msg::Frame(FrameRow::Tcp {
                conn: *conn,
                dir: *dir,
                ts: *ts,
                flags: *flags,
                packet: *packet,
            })),
            StreamEvent::Open { conn, packet, client, server, .. } => {
                self.deliver(Msg::Opened(*conn, Opened { packet: *packet, client: *client, server: *server }))
            }
            _ => CONTINUE,
        }
    }

    fn capture_began(&mut self, ts: crate::time::Timestamp) -> Flow {
        self.deliver(Msg::Began(ts))
    }

    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        let row = match ev {
            H2Event::Frame(f) => {
                let msg = self.frame(f);
                return self.deliver(msg);
            }
            H2Event::Preface { conn, ts, packet, .. } => FrameRow::Preface { conn: *conn, ts: *ts, packet: *packet },
            H2Event::Lost { conn, dir, ts, bytes, framing_lost, .. } => {
                if *framing_lost {
                    self.layouts.lost(*conn, *dir);
                }
                FrameRow::Lost { conn: *conn, dir: *dir, ts: *ts, bytes: *bytes }
            }
        };
        self.deliver(Msg::Frame(row))
    }

    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        let msg = match ev {
            GrpcEvent::Finished(c) => Msg::Call(c),
            GrpcEvent::Schema { server, files } => Msg::Schema(server, files),
            GrpcEvent::Started { .. } => return CONTINUE,
        };
        self.deliver(msg)
    }

    fn connection(&mut self, c: ConnReport) -> Flow {
        self.frames.remove(&c.tcp.id);
        self.deliver(Msg::Conn(Box::new(c)))
    }
}

/// Messages in flight from the loader to the UI at most: past them the
/// loader waits (a file is read no faster than the UI takes it in, and a
/// live capture's kernel buffer counts what could not wait), so memory
/// holds what the UI keeps, not a backlog of whole frames.
const IN_FLIGHT: usize = 2 * super::BATCH;

/// Reads a whole capture file into UI messages and waits for them all
/// (tests, documentation screenshots).
pub fn collect(cap: FileCapture, cfg: PipelineConfig) -> Vec<Msg> {
    let mut msgs = Vec::new();
    each(cap, cfg, |m| msgs.push(m));
    msgs
}

/// Reads a whole capture file, handing each UI message to `take` as it
/// comes (the memory profile, `examples/tui_memory.rs`).
pub fn each(mut cap: FileCapture, cfg: PipelineConfig, mut take: impl FnMut(Msg)) {
    let cfg = for_ui(cfg);
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let reader = std::thread::spawn(move || {
        let sink = ToUi::new(&tx, &cfg);
        let mut p = Pipeline::new(cfg, sink);
        while let Some(pkt) = cap.next_packet() {
            if p.packet(&pkt).is_break() {
                break;
            }
        }
        p.finish();
        let _ = tx.send(Msg::Done(cap.warnings().iter().map(|w| w.to_string()).collect()));
    });
    for m in rx {
        take(m);
    }
    let _ = reader.join();
}

/// Open connections a live Connections view shows at most (each report is
/// rebuilt twice a second).
pub const MAX_OPEN_SHOWN: usize = 10_000;

/// Starts loading `source` in the background.
pub fn spawn(source: Source, cfg: PipelineConfig) -> Loader {
    let cfg = for_ui(cfg);
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("grpcscope-loader".into())
        .spawn(move || match source {
            Source::File(cap) => load_file(cap, cfg, tx, &flag),
            Source::Live { cap, count, duration } => load_live(cap, cfg, tx, &flag, count, duration),
        })
        .ok();
    Loader { rx, stop, handle }
}

/// What the UI needs beyond the other outputs: the captured bytes of each
/// decrypted TLS record, shown beside the plaintext it carried.
fn for_ui(mut cfg: PipelineConfig) -> PipelineConfig {
    cfg.keep_tls_records = true;
    cfg
}

fn load_file(mut cap: FileCapture, cfg: PipelineConfig, tx: SyncSender<Msg>, stop: &AtomicBool) {
    let sink = ToUi::new(&tx, &cfg);
    let mut p = Pipeline::new(cfg, sink);
    let mut last = Instant::now();
    while let Some(pkt) = cap.next_packet() {
        if p.packet(&pkt).is_break() {
            // The UI is gone.
            return;
        }
        if last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            let (read, total) = cap.progress();
            if tx.send(Msg::Progress(read, total)).is_err() || stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
    p.finish();
    let (read, total) = cap.progress();
    let _ = tx.send(Msg::Progress(read, total));
    let _ = tx.send(Msg::Done(cap.warnings().iter().map(|w| w.to_string()).collect()));
}

fn load_live(
    mut cap: LiveCapture,
    cfg: PipelineConfig,
    tx: SyncSender<Msg>,
    stop: &AtomicBool,
    count: Option<u64>,
    duration: Option<Duration>,
) {
    let sink = ToUi::new(&tx, &cfg);
    // Key logs appended while capturing decrypt the records waiting for them.
    let (keys, mut key_logs) = (cfg.tls_keys.clone(), KeyLogFollower::new(&cfg.tls_key_files));
    if let Err(e) = cap.write_key_files(&cfg.tls_key_files) {
        let _ = tx.send(Msg::Failed(e.to_string()));
    }
    let mut p = Pipeline::new(cfg, sink);
    let started = Instant::now();
    let mut last = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) && count.is_none_or(|c| n < c) && duration.is_none_or(|d| started.elapsed() < d)
    {
        match cap.next(100) {
            Ok(Some(pkt)) => {
                n += 1;
                if p.packet(&pkt).is_break() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = tx.send(Msg::Failed(e.to_string()));
                break;
            }
        }
        if last.elapsed() >= Duration::from_millis(500) {
            last = Instant::now();
            let lines = key_logs.poll(&*keys);
            if let Err(e) = cap.write_key_log(&lines) {
                let _ = tx.send(Msg::Failed(e.to_string()));
            }
            let _ = cap.flush();
            if tx.send(Msg::Drops(n, cap.drops())).is_err() {
                break;
            }
            // The Connections view shows those still open, not only those that ended.
            if tx.send(Msg::Open(p.open_reports(MAX_OPEN_SHOWN))).is_err() {
                break;
            }
        }
    }
    let lines = key_logs.poll(&*keys);
    let _ = cap.write_key_log(&lines);
    p.finish();
    let _ = cap.flush();
    let _ = tx.send(Msg::Drops(n, cap.drops()));
    let _ = tx.send(Msg::Done(Vec::new()));
}
