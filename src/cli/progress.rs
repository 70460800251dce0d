//! The progress bar on standard error while large captures are read: how
//! far through the files the readers are, how fast, and how long is left.
//! Only on a terminal (a script's stderr stays clean), only past
//! [`MIN_BYTES`] (a small file is done before a bar would help), never
//! with `--quiet`.

use crate::capture::FileCapture;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Captures smaller than this in total get no bar.
pub const MIN_BYTES: u64 = 100_000_000;

/// A bar for reading `paths` (their sizes added up), when it should show.
pub fn for_files(paths: &[PathBuf], quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    if total < MIN_BYTES {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "reading {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes}, {binary_bytes_per_sec}, {eta} left",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(match paths {
        [one] => crate::present::text::clean(&one.display().to_string()).into_owned(),
        many => format!("{} captures", many.len()),
    });
    Some(bar)
}

/// One reader's share of a bar: the file bytes its capture has read since
/// it last reported (several readers of several files add to one bar).
pub struct Gauge<'a> {
    bar: Option<&'a ProgressBar>,
    read: Arc<AtomicU64>,
    reported: u64,
}

impl<'a> Gauge<'a> {
    /// The gauge of `cap`'s reads on `bar`.
    pub fn new(cap: &FileCapture, bar: Option<&'a ProgressBar>) -> Self {
        Gauge { bar, read: cap.progress_counter(), reported: 0 }
    }

    /// Moves the bar by what was read since the last call (the bar itself
    /// limits how often it redraws).
    pub fn advance(&mut self) {
        let Some(bar) = self.bar else { return };
        let now = self.read.load(Ordering::Relaxed);
        bar.inc(now.saturating_sub(self.reported));
        self.reported = now;
    }
}
