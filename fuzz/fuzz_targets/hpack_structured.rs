//! Fuzz target: see grpcscope::fuzzing::hpack_structured and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::hpack_structured(data));
