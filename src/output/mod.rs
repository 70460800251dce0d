//! Sinks that print: text for people, JSON Lines for scripts.

pub mod calls;
pub mod conns;
pub mod doctor;
pub mod frames;
pub mod offload;
pub mod otlp;
pub mod parquet;
pub mod replay;
pub mod stats;

use std::io::{self, Write};

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Aligned lines for a person.
    #[default]
    Text,
    /// One JSON object per line (JSON Lines), for scripts.
    Json,
}

/// Writes a value as one JSON line.
pub fn write_json_line<W: Write, T: serde::Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    // serde_json's own conversion keeps the kind of a write error (a closed
    // pipe must stay BrokenPipe to end the run quietly).
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
