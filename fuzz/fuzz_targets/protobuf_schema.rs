//! Fuzz target: see grpcscope::fuzzing::protobuf_schema and docs/robustness.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpcscope::fuzzing::protobuf_schema(data));
