//! grpcscope: a gRPC wire analyzer.
//!
//! The library is a pipeline of pure state machines, one module per layer:
//!
//! ```text
//! capture ─Packet─▶ net ─Segment─▶ tcp ─StreamEvent─▶ chain: detector ─▶ h2 ─Exchange─▶ grpc ─Call─▶ output / tui
//! ```
//!
//! docs/architecture.md draws it whole, with the layer order that
//! `tests/layering.rs` enforces.
//!
//! None of the layers below [`capture`] and the sinks does I/O, so the same
//! code serves capture files, live interfaces, tests, fuzzers and benchmarks.
// Input must never panic the library: no unwrap, expect, panic or unchecked
// indexing outside tests (docs/robustness.md).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod analysis;
pub mod capture;
pub mod chain;
pub mod cli;
pub mod exchange;
pub mod explain;
pub mod filter;
pub mod fuzzing;
pub mod grpc;
pub mod h2;
pub mod names;
pub mod net;
pub mod notes;
pub mod output;
pub mod present;
pub mod proto;
pub mod reflect;
pub mod synth;
pub mod tcp;
pub mod time;
pub mod tls;
pub mod tui;
