//! Fuzz target: see grpcscope::fuzzing::dns_response and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::dns_response(data));
