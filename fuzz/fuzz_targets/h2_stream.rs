//! Fuzz target: see grpcscope::fuzzing::h2_stream and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::h2_stream(data));
