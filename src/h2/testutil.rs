//! Building HTTP/2 bytes in tests: the synthetic builders, under the names the tests use.

pub use crate::synth::h2::{frame, literal_block};
