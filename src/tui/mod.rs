//! The terminal UI: Wireshark's three panes (list, detail tree, bytes) with
//! gRPC's vocabulary, over a capture file or live traffic.
//!
//! The pipeline runs in a loader thread ([`loader`]); the UI thread drains
//! its messages a batch at a time, so rows appear while a large capture
//! loads and keys stay responsive. [`app`] holds the state and the key
//! handling, [`render`] draws it; both are tested without a terminal.

pub mod app;
pub mod columns;
pub mod details;
pub mod hpack_view;
pub mod kept;
pub mod line_edit;
pub mod loader;
pub mod model;
pub mod render;
pub mod replay;
pub mod rows;
pub mod tree;

use crate::analysis::PipelineConfig;
use crate::present::Decoder;
use app::App;
use model::Model;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use ratatui::crossterm::execute;
use std::io;
use std::time::{Duration, Instant};

/// Messages taken from the loader per screen refresh: enough to load fast,
/// few enough to keep the keys responsive.
pub const BATCH: usize = 20_000;

/// How the UI is set up, beyond its source.
pub struct Options {
    /// A filter for the Calls view to start with.
    pub filter: Option<String>,
    /// Memory the Frames view's rows may take (`--max-frame-memory`).
    pub frame_memory: usize,
    /// Memory for the whole frames and calls a live capture keeps for the
    /// details panes (`--window`).
    pub window: usize,
    /// The file the details panes re-read: the capture file, or a live
    /// capture's `-w` file (none for standard input).
    pub reread: Option<std::path::PathBuf>,
    /// How times are shown.
    pub time_format: crate::time::TimeFormat,
}

/// Runs the UI until the user quits.
pub fn run(
    source: loader::Source,
    cfg: PipelineConfig,
    decoder: Decoder,
    title: String,
    opts: Options,
) -> io::Result<()> {
    let live = matches!(source, loader::Source::Live { .. });
    let reread = opts.reread.map(|path| replay::Reread { path, cfg: cfg.clone() });
    let mut loader = loader::spawn(source, cfg);
    let mut model = Model::new(title, live, decoder);
    model.frame_budget = opts.frame_memory;
    model.frame_memory = opts.frame_memory;
    model.call_budget = opts.window;
    // The lists keep summaries; whole frames and calls come from a live
    // capture's window, or from re-reading the capture file.
    model.slim_calls = live || reread.is_some();
    model.keep_whole = live;
    model.kept = kept::Kept::new(if live { opts.window } else { kept::REREAD_MEMORY });
    let mut app = App::new(model);
    app.replayer = reread.map(replay::Replayer::spawn);
    app.clock.format = opts.time_format;
    if let Some(f) = opts.filter {
        app.apply_filter(&f);
    }
    // Mouse capture is turned off again even on panic, before ratatui's
    // own hook restores the screen.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        previous(info);
    }));
    let mut terminal = ratatui::try_init()?;
    let _ = execute!(io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, &mut app, &loader);
    let _ = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    // What the loader still had to say (a live capture's final counters).
    for m in loader.shutdown() {
        app.model.apply(m);
    }
    if let Some((n, Some(d))) = app.model.drops {
        eprintln!(
            "grpcscope: {n} packets captured, {} dropped by the kernel, {} dropped by the interface",
            d.dropped, d.if_dropped
        );
        if d.lost() {
            eprintln!(
                "grpcscope: WARNING: {} PACKETS WERE DROPPED: this capture is INCOMPLETE.",
                d.dropped + d.if_dropped
            );
        }
    }
    for w in &app.model.warnings {
        eprintln!("grpcscope: warning: {w}");
    }
    result
}

/// Set by tests/tui_tmux.rs to prove that a panic gives the terminal back.
const PANIC_TEST_VAR: &str = "GRPCSCOPE_TUI_PANIC_TEST";

/// Panics after a draw when [`PANIC_TEST_VAR`] is set: the one way to test
/// the panic hook on the real binary, since no input can make the UI panic.
#[allow(clippy::panic)]
fn panic_if_testing_the_hook() {
    if std::env::var_os(PANIC_TEST_VAR).is_some() {
        panic!("{PANIC_TEST_VAR} is set: panicking to test the terminal restore");
    }
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App, loader: &loader::Loader) -> io::Result<()> {
    let mut dirty = true;
    loop {
        let deadline = Instant::now() + Duration::from_millis(30);
        let batch: Vec<model::Msg> = loader.rx.try_iter().take(BATCH).collect();
        if !batch.is_empty() {
            dirty |= app.absorb(batch);
        }
        dirty |= app.take_rereads();
        if dirty {
            terminal.draw(|f| render::draw(f, app))?;
            dirty = false;
            panic_if_testing_the_hook();
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => app.on_key(k),
                Event::Mouse(m) => app.on_mouse(m),
                Event::Resize(..) => {}
                _ => continue,
            }
            dirty = true;
        }
        if app.quit {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests;
