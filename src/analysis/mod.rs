//! Wiring the layers together and the analyses built on them.
//!
//! [`pipeline::Pipeline`] feeds packets through net → tcp → h2 → grpc and
//! hands every event to a [`pipeline::Sink`]; the commands are sinks.
//! [`stats`], [`hops`] and [`channels`] analyse what the pipeline finds;
//! [`doctor`] turns it into findings.

pub mod channels;
pub mod doctor;
pub mod extract;
pub mod histogram;
pub mod hops;
pub mod method_names;
pub mod pipeline;
pub mod redact;
pub mod shards;
pub mod stats;

pub use pipeline::{flow_of, CaptureCounters, ConnReport, Flow, Pipeline, PipelineConfig, Sink, Stop, CONTINUE};
