//! Fuzz target: see grpcscope::fuzzing::tls_records and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::tls_records(data));
