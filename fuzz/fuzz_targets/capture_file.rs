//! Fuzz target: see grpcscope::fuzzing::capture_file and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::capture_file(data));
