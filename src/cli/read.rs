//! Reading capture files: opening one (its key log blocks to the key
//! store), reading it on a second thread into a pipeline, the warnings and
//! hints that follow, and the error type every command returns.

use crate::analysis::{Flow, Pipeline, PipelineConfig, Sink, Stop};
use crate::capture::{FileCapture, Packet};
use std::io;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The input cannot be used; the message says why and what to do.
    BadInput(String),
    /// Writing output failed.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// Reads the capture at `path` through a pipeline of `cfg` into `sink`,
/// advancing `bar` (when there is one) as the file is read.
pub fn drive_path<S: Sink>(
    path: &std::path::Path,
    bar: Option<&indicatif::ProgressBar>,
    cfg: PipelineConfig,
    sink: S,
) -> Result<Pipeline<S>, Failure> {
    let cap = open_capture(path, &cfg)?;
    let mut pipeline = Pipeline::new(cfg, sink);
    let warnings = read_in_background(cap, bar, |pkt| pipeline.packet(pkt));
    pipeline.finish();
    if pipeline.stopped() == Some(Stop::OutputClosed) {
        // `| head`: the reader needs nobody's warnings.
        return Ok(pipeline);
    }
    warn_of(path, &warnings);
    tls_hint(pipeline.counters.tls_undecrypted);
    Ok(pipeline)
}

/// Opens a capture file, its key log blocks going to `cfg`'s key store.
pub fn open_capture(path: &std::path::Path, cfg: &PipelineConfig) -> Result<FileCapture, Failure> {
    Ok(FileCapture::open(path).map_err(|e| Failure::BadInput(e.to_string()))?.with_key_store(cfg.tls_keys.clone()))
}

/// Prints what the reader of `path` warned of.
pub fn warn_of(path: &std::path::Path, warnings: &[String]) {
    for w in warnings {
        eprintln!("grpcscope: warning: {}: {w}", path.display());
    }
}

/// Calls inside TLS without keys are not shown: say so rather than show fewer calls silently.
pub fn tls_hint(undecrypted: u64) {
    // Commands that read the capture twice (a schema pass, then the decode) say it once.
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if undecrypted > 0 && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "grpcscope: note: {undecrypted} connection(s) encrypted, no keys: their calls are not shown; pass --tls-keylog FILE \
             (or set SSLKEYLOGFILE; `grpcscope conns` says why each was not decrypted; see docs/tls.md)"
        );
    }
}

/// Packets handed from the reading thread to the decoding one at a time:
/// large enough that the channel costs nothing per packet, small enough
/// that memory stays flat.
pub const READ_BATCH: usize = 512;

/// Reads `cap` on a second thread (file I/O, decompression and record
/// parsing: about a tenth of `stats` on an uncompressed file, more on a
/// compressed one) while `each` decodes on this one. Packets arrive in
/// capture order; when `each` breaks (the output closed), reading stops at
/// once. Returns the reader's warnings.
fn read_in_background(
    mut cap: FileCapture,
    bar: Option<&indicatif::ProgressBar>,
    mut each: impl FnMut(&Packet) -> Flow,
) -> Vec<String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Packet>>(8);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut gauge = super::progress::Gauge::new(&cap, bar);
            loop {
                let batch: Vec<Packet> = std::iter::from_fn(|| cap.next_packet()).take(READ_BATCH).collect();
                let last = batch.len() < READ_BATCH;
                gauge.advance();
                // The decoder hung up (it failed): stop reading.
                if tx.send(batch).is_err() || last {
                    break;
                }
            }
            cap.warnings().iter().map(ToString::to_string).collect::<Vec<_>>()
        });
        'batches: for batch in rx {
            for pkt in &batch {
                if each(pkt).is_break() {
                    // Dropping the receiver makes the reader's next send fail: it stops.
                    break 'batches;
                }
            }
        }
        reader.join().unwrap_or_default()
    })
}
