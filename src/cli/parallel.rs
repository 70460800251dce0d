//! `stats` on every core: several captures decoded one per thread, or one
//! capture's connections split across threads (each thread sees every
//! packet and decodes the connections whose addresses hash to it:
//! [`crate::analysis::shards`]); the statistics are then merged, in an
//! order that does not depend on which thread finished first.

use super::progress::Gauge;
use super::read::{drive_path, open_capture, tls_hint, warn_of, Failure, READ_BATCH};
use crate::analysis::shards;
use crate::analysis::stats::Stats;
use crate::analysis::{Pipeline, PipelineConfig};
use crate::capture::Packet;
use crate::tcp::ConnId;
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Makes the sink of one thread (the same filter and breakdowns for all).
pub type MakeStats<'a> = &'a (dyn Fn() -> Stats + Sync);

/// One capture's statistics and how many connections it numbered (or why
/// it could not be read); `None` until its thread is done.
type Slot = Option<Result<(Stats, u64), Failure>>;

/// What one pipeline came to: its statistics with its packet counters,
/// and how many connections it numbered.
fn finished(p: Pipeline<Stats>) -> (Stats, u64) {
    let seen = p.connections_seen();
    let counters = p.counters.clone();
    let mut stats = p.sink;
    stats.capture = counters;
    (stats, seen)
}

/// Statistics of `paths` together: up to `threads` captures decoded at
/// once, merged in the order given, each capture's connections numbered
/// after the ones before it (as if the files had been read one after
/// another).
pub fn stats_of_files(
    paths: &[PathBuf],
    threads: usize,
    cfg: &PipelineConfig,
    make: MakeStats<'_>,
    bar: Option<&ProgressBar>,
) -> Result<Stats, Failure> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Slot>> = Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, paths.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let result = drive_path(path, bar, cfg.clone(), make()).map(finished);
                if let Some(slot) = done.lock().ok().as_mut().and_then(|d| d.get_mut(i)) {
                    *slot = Some(result);
                }
            });
        }
    });
    let done = done.into_inner().map_err(|_| Failure::BadInput("a decoding thread failed".into()))?;
    let mut all = make();
    let mut offset: ConnId = 0;
    for result in done.into_iter().flatten() {
        let (stats, seen) = result?;
        all.merge(stats, &|c| c + offset);
        offset += seen;
    }
    Ok(all)
}

/// Statistics of the capture at `path`, its connections split across
/// `threads` pipelines ([`crate::analysis::shards`]); this thread reads.
pub fn stats_sharded(
    path: &std::path::Path,
    threads: usize,
    cfg: &PipelineConfig,
    make: MakeStats<'_>,
    bar: Option<&ProgressBar>,
) -> Result<Stats, Failure> {
    let mut cap = open_capture(path, cfg)?;
    let mut gauge = Gauge::new(&cap, bar);
    let batches = std::iter::from_fn(|| {
        let batch: Vec<Packet> = std::iter::from_fn(|| cap.next_packet()).take(READ_BATCH).collect();
        gauge.advance();
        (!batch.is_empty()).then_some(batch)
    });
    let shards = shards::decode_sharded(cfg, threads, make, batches);
    if shards.len() != threads.max(1) {
        return Err(Failure::BadInput(format!("{}: a decoding thread failed", path.display())));
    }
    let warnings: Vec<String> = cap.warnings().iter().map(ToString::to_string).collect();
    warn_of(path, &warnings);
    tls_hint(shards.iter().map(|p| p.counters.tls_undecrypted).sum());
    Ok(shards::merge_stats(shards, make()))
}
