//! Issue 9: every input in the fuzz corpora (fuzz/corpus/TARGET/, seeded
//! from real captures and minimised) and every crash the fuzzers found
//! (fuzz/regressions/TARGET/) runs through its target's entry point on
//! stable Rust, so `cargo test` catches a regression without cargo-fuzz.
use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_runs_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut total = 0;
    for (name, run) in grpcscope::fuzzing::TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty: run `cargo run --example fuzz_seeds`");
        for path in corpus.iter().chain(&inputs(&root.join("regressions").join(name))) {
            let bytes = std::fs::read(path).unwrap();
            run(&bytes);
            total += 1;
        }
    }
    eprintln!("{total} fuzz inputs replayed");
}

#[test]
fn the_targets_reach_real_decoding_not_just_early_returns() {
    // A seed from a real capture must decode to calls: if a format change
    // made every seed bounce off the first length check, fuzzing would
    // explore nothing.
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/capture_file/errors.pcap");
    let bytes = std::fs::read(seed).unwrap();
    let (packets, _) = grpcscope::capture::file::packets_from_bytes(&bytes).unwrap();
    assert!(packets.len() > 20);
    // The seeds of examples/fuzz_seeds.rs, not what the fuzzer added (named by their SHA-1).
    let is_fuzzer_made = |p: &std::path::PathBuf| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 40 && n.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let payloads: Vec<_> = inputs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/protobuf_schemaless"))
        .into_iter()
        .filter(|p| !is_fuzzer_made(p))
        .collect();
    assert!(payloads.len() > 20, "{} seeds", payloads.len());
    let decoded =
        payloads.iter().filter(|p| grpcscope::proto::schemaless::decode(&std::fs::read(p).unwrap()).is_ok()).count();
    assert!(decoded * 2 > payloads.len(), "most real message payloads decode schemaless: {decoded}/{}", payloads.len());
}
