//! Fuzz target: see grpcscope::fuzzing::filter_expression and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::filter_expression(data));
