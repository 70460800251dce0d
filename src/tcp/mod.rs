//! TCP: a flow table keyed by the 4-tuple, and for each connection the two
//! directions reassembled into ordered byte streams.
//!
//! The layer is a pure state machine: [`FlowTable::segment`] takes one
//! decoded segment and pushes [`StreamEvent`]s for the layers above. Bytes
//! that were never captured become an explicit [`StreamEvent::Gap`] so the
//! HTTP/2 layer knows to resynchronise instead of misparsing.

mod half;
mod table;

use crate::net::TcpFlags;
use crate::time::Timestamp;
use bytes::Bytes;
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;

pub use half::HalfStats;
pub use table::{FlowTable, TcpConfig};

/// A connection's number in the capture: 1 for the first connection seen,
/// in order of first packet. Every command prints the same number.
pub type ConnId = u64;

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Dir {
    /// From the client (the side that opened the connection) to the server.
    #[serde(rename = "client_to_server")]
    ToServer,
    /// From the server to the client.
    #[serde(rename = "server_to_client")]
    ToClient,
}

impl Dir {
    /// 0 for client→server, 1 for server→client: an index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }

    /// The opposite direction.
    pub fn other(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }

    /// The side that sends in this direction.
    pub fn sender(self) -> Side {
        match self {
            Dir::ToServer => Side::Client,
            Dir::ToClient => Side::Server,
        }
    }

    /// An arrow for one-line output: `->` or `<-`.
    pub fn arrow(self) -> &'static str {
        match self {
            Dir::ToServer => "->",
            Dir::ToClient => "<-",
        }
    }
}

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The side that sent the SYN (or, without a SYN, the one with the ephemeral port).
    Client,
    /// The other side.
    Server,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    /// The direction in which this side sends.
    pub fn sending(self) -> Dir {
        match self {
            Side::Client => Dir::ToServer,
            Side::Server => Dir::ToClient,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

/// How the roles of client and server were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleEvidence {
    /// The client sent the SYN.
    Syn,
    /// The server sent the SYN-ACK.
    SynAck,
    /// The server's port was named with `--h2-port`.
    PortHint,
    /// No handshake seen: the side with the ephemeral port is the client.
    EphemeralPort,
    /// No handshake seen: HTTP/2 pseudo-headers showed who sends requests.
    Content,
}

/// Why a connection ended, as far as the capture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EndReason {
    /// A FIN; `by` sent the first one; `both` when the other side's FIN was seen too.
    Fin {
        /// Who closed first.
        by: Side,
        /// Both sides' FINs were seen.
        both: bool,
    },
    /// A RST from `by`.
    Rst {
        /// Who reset.
        by: Side,
    },
    /// The server answered the SYN with a RST: nothing listened on the port.
    Refused,
    /// The SYN was never answered within the capture.
    NoAnswer,
    /// Still open when the capture ended.
    OpenAtEnd,
    /// No packet for longer than the idle timeout.
    Idle,
    /// Dropped because the flow table was full.
    Evicted,
    /// A new SYN on the same ports started a new connection while this one looked open.
    Superseded,
}

impl EndReason {
    /// The connection was torn down (as opposed to still open or lost track of).
    pub fn is_closed(self) -> bool {
        matches!(self, EndReason::Fin { .. } | EndReason::Rst { .. } | EndReason::Refused)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Fin { by, both: true } => write!(f, "FIN by {by}"),
            EndReason::Fin { by, both: false } => write!(f, "FIN by {by} (half-closed)"),
            EndReason::Rst { by } => write!(f, "RST by {by}"),
            EndReason::Refused => f.write_str("refused (RST to SYN)"),
            EndReason::NoAnswer => f.write_str("SYN never answered"),
            EndReason::OpenAtEnd => f.write_str("open at capture end"),
            EndReason::Idle => f.write_str("idle timeout"),
            EndReason::Evicted => f.write_str("evicted (flow table full)"),
            EndReason::Superseded => f.write_str("superseded by a new SYN"),
        }
    }
}

/// Everything known about one TCP connection; what `conns` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ConnSummary {
    /// Number in the capture.
    pub id: ConnId,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// How the roles were decided.
    pub roles_from: RoleEvidence,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// Client SYN.
    pub syn_ts: Option<Timestamp>,
    /// Server SYN-ACK.
    pub synack_ts: Option<Timestamp>,
    /// Client ACK of the SYN-ACK.
    pub ack_ts: Option<Timestamp>,
    /// The handshake completed (SYN, SYN-ACK and ACK all seen).
    pub established: bool,
    /// Per direction (client→server, server→client).
    pub dirs: [HalfStats; 2],
    /// How it ended.
    pub end: EndReason,
    /// Who sent the first FIN, when a FIN was seen (it may precede a RST).
    pub first_fin: Option<Side>,
    /// When that first FIN was seen (a peer that closed first may be
    /// answered after it, then reset: the FIN is when it gave up).
    #[serde(skip)]
    pub first_fin_ts: Option<Timestamp>,
    /// When the end (FIN, RST) happened; the last packet otherwise.
    pub end_ts: Timestamp,
}

impl ConnSummary {
    /// How it ended, as a phrase: `FIN by client`, `FIN by client, then RST by server`.
    pub fn end_text(&self) -> String {
        match (self.first_fin, self.end) {
            (Some(fin), EndReason::Rst { by }) => format!("FIN by {fin}, then RST by {by}"),
            _ => self.end.to_string(),
        }
    }

    /// SYN to handshake ACK, the round trip as seen where the capture was taken.
    pub fn handshake_rtt_nanos(&self) -> Option<i64> {
        Some(self.ack_ts?.nanos_since(self.syn_ts?))
    }
}

/// What the TCP layer tells the layers above.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// A connection was seen for the first time.
    Open {
        /// Its number.
        conn: ConnId,
        /// When.
        ts: Timestamp,
        /// Client address.
        client: SocketAddr,
        /// Server address.
        server: SocketAddr,
        /// The packet that opened it (its first in the capture).
        packet: u64,
        /// Whether its SYN was captured (if not, the capture began mid-connection).
        syn_seen: bool,
        /// Client and server were told apart by port numbers alone.
        roles_guessed: bool,
    },
    /// A packet with SYN, FIN or RST, or the ACK that completes the handshake:
    /// the moments a ladder diagram shows.
    Control {
        /// Connection.
        conn: ConnId,
        /// Who sent it.
        dir: Dir,
        /// When.
        ts: Timestamp,
        /// Its flags.
        flags: TcpFlags,
        /// Capture packet number.
        packet: u64,
    },
    /// In-order stream bytes.
    Data {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Dir,
        /// Time of the packet that made these bytes available.
        ts: Timestamp,
        /// Position of the first byte in this direction's stream (0 = first byte after the SYN).
        offset: u64,
        /// The bytes, a slice of the packet buffer when possible.
        data: Bytes,
        /// Capture packet number.
        packet: u64,
    },
    /// Bytes the capture never held: the stream continues at `offset + len`.
    Gap {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Dir,
        /// When the gap was established.
        ts: Timestamp,
        /// Stream position of the first missing byte.
        offset: u64,
        /// How many bytes are missing.
        len: u64,
    },
    /// Bytes already delivered were retransmitted with different content
    /// (packet `packet`); the copy delivered first stands, as the Linux
    /// receiver keeps it.
    Conflict {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Dir,
        /// When.
        ts: Timestamp,
        /// Stream position of the disputed bytes.
        offset: u64,
        /// How many.
        len: u64,
        /// The packet with the other copy.
        packet: u64,
    },
    /// The sender in `dir` finished its stream (FIN, in order).
    Fin {
        /// Connection.
        conn: ConnId,
        /// Direction that ended.
        dir: Dir,
        /// When.
        ts: Timestamp,
    },
    /// The connection ended: reset, both FINs, or the capture/timeout ended it.
    Closed {
        /// Connection.
        conn: ConnId,
        /// When.
        ts: Timestamp,
        /// Why.
        reason: EndReason,
    },
    /// The connection left the flow table; its final record.
    Finished(Box<ConnSummary>),
}

impl StreamEvent {
    /// The connection this event is about.
    pub fn conn(&self) -> ConnId {
        match self {
            StreamEvent::Open { conn, .. }
            | StreamEvent::Control { conn, .. }
            | StreamEvent::Data { conn, .. }
            | StreamEvent::Gap { conn, .. }
            | StreamEvent::Conflict { conn, .. }
            | StreamEvent::Fin { conn, .. }
            | StreamEvent::Closed { conn, .. } => *conn,
            StreamEvent::Finished(s) => s.id,
        }
    }
}

#[cfg(test)]
mod tests;
