//! HTTP/2 (RFC 9113): frames, HPACK, streams and flow control, per connection.

mod blocks;
pub mod conn;
pub mod detect;
mod direction;
pub mod exchange;
pub mod frame;
pub mod header_budget;
pub mod hpack;
mod process;
mod records;
pub mod streams;
pub mod types;

pub use conn::{H2Config, H2Conn, Start};
pub use detect::Evidence;
pub use exchange::ToExchanges;
pub use types::{
    FlowInfo, Frame, GoAwayRecord, H2Event, H2Summary, HeaderBlock, Level, Note, NoteCode, PingRecord, SettingsRecord,
    StreamState,
};
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
