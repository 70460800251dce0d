//! Fuzz target: see grpcscope::fuzzing::tcp_segments and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::tcp_segments(data));
