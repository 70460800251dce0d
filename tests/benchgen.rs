//! Issue 8: the benchmark capture generator replays the `bench_seed`
//! fixture into captures that decode to exactly the seed's calls, once per
//! copy, on distinct connections.
mod common;

use common::*;
use grpcscope::capture::file::packets_from_bytes;
use grpcscope::capture::writer::PcapWriter;
use grpcscope::synth::replay::{Replay, Seed};

fn summary(path: &std::path::Path) -> serde_json::Value {
    let (code, out, err) = grpcscope(&["stats", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    json_lines(&out).into_iter().find(|r| r["section"] == "summary").expect("a summary line")
}

#[test]
fn three_replayed_copies_hold_three_times_the_seed_calls_on_three_connections() {
    let seed_path = fixture("bench_seed.pcap");
    let seed_summary = summary(&seed_path);
    assert_eq!(seed_summary["calls"], 1000);
    assert_eq!(seed_summary["errors"]["NOT_FOUND"], 100);

    let (packets, _) = packets_from_bytes(&std::fs::read(&seed_path).unwrap()).unwrap();
    let seed = Seed::new(&packets).unwrap();
    let mut w = PcapWriter::new(Vec::new(), seed.link(), 262_144).unwrap();
    for (ts, data) in Replay::new(&seed, 3, 2) {
        w.write_packet(ts, &data, data.len() as u32).unwrap();
    }
    let path = scratch_dir("benchgen").join("three.pcap");
    std::fs::write(&path, w.into_inner()).unwrap();

    let s = summary(&path);
    assert_eq!(s["calls"], 3000);
    assert_eq!(s["ok"], 2700);
    assert_eq!(s["errors"]["NOT_FOUND"], 300);
    assert_eq!(s["incomplete"], 0);
    assert_eq!(s["packets"], 3 * seed_summary["packets"].as_u64().unwrap());
    assert_eq!(s["established_connections"], 3);
    assert_eq!(s["problems"], serde_json::json!({}), "no checksum, sequence or framing problem");
}
