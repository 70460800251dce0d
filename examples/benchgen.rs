//! Writes a benchmark capture: the `bench_seed` fixture (1,000 real tonic
//! calls of every kind on one connection) replayed until the capture holds
//! the calls asked for, several connections at a time. See
//! docs/performance.md.
//!
//! ```sh
//! cargo run --release --example benchgen -- --calls 200000 -o /tmp/bench.pcap
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use grpcscope::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
use grpcscope::capture::writer::PcapWriter;
use grpcscope::capture::FileCapture;
use grpcscope::grpc::GrpcEvent;
use grpcscope::synth::replay::{Replay, Seed};
use std::io::BufWriter;
use std::path::PathBuf;

const USAGE: &str = "usage: benchgen [--calls N] [--concurrency K] [--seed FILE] -o OUT.pcap

  --calls N          at least N gRPC calls (default 200000)
  --concurrency K    connections open at once (default 16)
  --rate R           calls per second of capture time (default 60000, the
                     seed team's production rate; 0 = as fast as recorded)
  --seed FILE        the connection to replay (default fixtures/bench_seed.pcap)
  -o FILE            where to write the capture";

struct Args {
    calls: u64,
    concurrency: usize,
    rate: f64,
    seed: PathBuf,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        calls: 200_000,
        concurrency: 16,
        rate: 60_000.0,
        seed: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench_seed.pcap"),
        out: PathBuf::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--calls" => a.calls = value().parse().expect("--calls takes a number"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency takes a number"),
            "--rate" => a.rate = value().parse().expect("--rate takes a number"),
            "--seed" => a.seed = value().into(),
            "-o" => a.out = value().into(),
            _ => panic!("unknown argument {flag}\n{USAGE}"),
        }
    }
    assert!(!a.out.as_os_str().is_empty(), "-o FILE is required\n{USAGE}");
    a
}

/// Counts the calls that end.
struct CountCalls(u64);
impl Sink for CountCalls {
    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        if matches!(ev, GrpcEvent::Finished(_)) {
            self.0 += 1;
        }
        CONTINUE
    }
}

fn main() {
    let a = args();
    let mut cap = FileCapture::open(&a.seed).unwrap_or_else(|e| panic!("{}: {e}", a.seed.display()));
    let mut packets = Vec::new();
    while let Some(p) = cap.next_packet() {
        packets.push(p);
    }
    let mut count = Pipeline::new(PipelineConfig::new(), CountCalls(0));
    for p in &packets {
        let _ = count.packet(p);
    }
    count.finish();
    let per_copy = count.sink.0.max(1);
    let seed = Seed::new(&packets).unwrap_or_else(|e| panic!("{}: {e}", a.seed.display()));
    let copies = a.calls.div_ceil(per_copy);
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&a.out).unwrap());
    let mut w = PcapWriter::new(file, seed.link(), 262_144).unwrap();
    let (mut n, mut bytes) = (0u64, 0u64);
    // The seed's own rate on one connection, times the connections open at
    // once, is the rate as recorded; stretch time to bring it to --rate.
    let recorded = per_copy as f64 * 1e9 / seed.duration_nanos().max(1) as f64 * a.concurrency.max(1) as f64;
    let stretch = if a.rate > 0.0 { (recorded / a.rate).max(1.0) } else { 1.0 };
    for (ts, data) in Replay::stretched(&seed, copies, a.concurrency, stretch) {
        w.write_packet(ts, &data, data.len() as u32).unwrap();
        n += 1;
        bytes += data.len() as u64;
    }
    w.flush().unwrap();
    println!(
        "{}: {} calls on {copies} connections ({} open at a time), {n} packets, {:.1} MB of packets, \
         about {:.0} calls/s",
        a.out.display(),
        copies * per_copy,
        a.concurrency.min(copies as usize),
        bytes as f64 / 1e6,
        recorded / stretch
    );
}
