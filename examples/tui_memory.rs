//! Where the terminal UI's memory goes: loads a capture into the UI's model
//! as `grpcscope FILE` does (summaries in the lists, details re-read) and
//! prints the heap each part holds, measured by a counting allocator.
//!
//!     cargo run --release --example tui_memory -- CAPTURE.pcap
//!
//! docs/performance.md quotes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use grpcscope::analysis::PipelineConfig;
use grpcscope::capture::FileCapture;
use grpcscope::present::Decoder;
use grpcscope::proto::Schema;
use grpcscope::tui::model::{row_cost, Model};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes it has handed out.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn heap_mb() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / 1e6
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: tui_memory CAPTURE");
    let cap = FileCapture::open(std::path::Path::new(&path)).expect("a capture");
    let mut model = Model::new(path.clone(), false, Decoder::new(Schema::builtin(), 1 << 20, None, 1 << 20));
    model.slim_calls = true;
    model.keep_whole = false;
    let base = heap_mb();
    grpcscope::tui::loader::each(cap, PipelineConfig::new(), |m| {
        model.apply(m);
    });
    model.settle();
    let total = heap_mb() - base;
    let estimate: usize = model.frames.iter().map(row_cost).sum();
    let (calls, frames) = (model.calls.len(), model.frames.len());
    let mut part = |name: &str, drop_it: &mut dyn FnMut(&mut Model)| {
        let before = heap_mb();
        drop_it(&mut model);
        println!("  {name:<16} {:>8.1} MB", before - heap_mb());
    };
    println!("{path}: the UI's model holds {total:.1} MB ({calls} calls, {frames} frame rows)");
    part("frame rows", &mut |m| m.frames = Vec::new());
    part("calls", &mut |m| m.calls = Vec::new());
    part("findings' facts", &mut |m| m.doctor = Default::default());
    part("statistics", &mut |m| m.stats = Default::default());
    part("connections", &mut |m| m.conns = Vec::new());
    println!("  (the frame rows' estimate, --max-frame-memory's measure: {:.1} MB)", estimate as f64 / 1e6);
}
