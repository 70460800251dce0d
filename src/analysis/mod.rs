//! Wiring the layers together and the analyses built on them.
//!
//! [`pipeline::Pipeline`] feeds packets through net → tcp → h2 → grpc and
//! hands every event to a [`pipeline::Sink`]; the commands are sinks.

pub mod pipeline;

pub use pipeline::{CaptureCounters, Pipeline, PipelineConfig, Sink};
