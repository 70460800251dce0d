//! The command line: argument definitions (clap) and the glue from a
//! capture source to a command's sink.

mod args;
mod extract;
mod parallel;
mod progress;
mod read;
mod run;
mod tables;

pub use args::{Cli, Command};
pub use run::main;
