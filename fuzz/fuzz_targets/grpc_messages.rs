//! Fuzz target: see grpcscope::fuzzing::grpc_messages and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::grpc_messages(data));
