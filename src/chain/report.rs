//! The record of a connection when it is done: its TCP facts, what its
//! decoder chain found, and its calls counted by outcome. One struct, read
//! by `conns`, `stats`, the filters and the TUI.

use crate::exchange::Protocol;
use crate::grpc::Origin;
use crate::h2::H2Summary;
use crate::tcp::ConnSummary;
use serde::Serialize;

/// Everything known about a connection when it is done.
#[derive(Debug, Clone)]
pub struct ConnReport {
    /// TCP facts.
    pub tcp: ConnSummary,
    /// What the connection carried (the decoder chain's verdict).
    pub protocol: Protocol,
    /// The TLS server name (SNI), when the connection is TLS and sent one.
    pub tls_server_name: Option<String>,
    /// TLS facts, when the connection was TLS. Boxed, as is `h2`: a
    /// capture of a million connections keeps a million records until it
    /// ends, and most of them (a SYN flood, a port scan) carry neither.
    pub tls: Option<Box<crate::tls::TlsSummary>>,
    /// HTTP/2 facts, when the HTTP/2 decoder saw anything (a connection
    /// that never carried a byte has none).
    pub h2: Option<Box<H2Summary>>,
    /// Its gRPC calls, counted by outcome.
    pub calls: CallCounts,
    /// The names of its two ends, when `--names`, `--k8s` or the capture's
    /// DNS answers gave them.
    pub names: EndpointNames,
}

/// Names of a connection's client and server hosts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointNames {
    /// The client's.
    pub client: Option<std::sync::Arc<crate::names::Name>>,
    /// The server's.
    pub server: Option<std::sync::Arc<crate::names::Name>>,
}

impl ConnReport {
    /// The ends of the connection that have a name: `client` or `server`,
    /// the host's address and its name.
    pub fn named_hosts(
        &self,
    ) -> impl Iterator<Item = (&'static str, std::net::IpAddr, &std::sync::Arc<crate::names::Name>)> {
        [("client", self.tcp.client.ip(), &self.names.client), ("server", self.tcp.server.ip(), &self.names.server)]
            .into_iter()
            .filter_map(|(who, ip, name)| name.as_ref().map(|n| (who, ip, n)))
    }

    /// `client 10.0.0.1 = NAME (...); server ...`, or `None` without names.
    pub fn names_described(&self) -> Option<String> {
        let parts: Vec<String> =
            self.named_hosts().map(|(who, ip, n)| format!("{who} {ip} = {}", n.described())).collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Calls of a connection by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CallCounts {
    /// All calls.
    pub total: u64,
    /// Ended OK.
    pub ok: u64,
    /// Failed by the application.
    pub application: u64,
    /// Failed by the transport.
    pub transport: u64,
    /// Ended with a status that could not be read.
    pub unknown: u64,
    /// Still open when the capture (or the connection's record) ended.
    pub incomplete: u64,
}

impl CallCounts {
    /// Counts one finished call.
    pub fn add(&mut self, call: &crate::grpc::Call) {
        self.total += 1;
        match call.verdict().0 {
            Origin::Application => self.application += 1,
            Origin::Transport => self.transport += 1,
            Origin::Unknown => self.unknown += 1,
            Origin::None if call.end.is_none() => self.incomplete += 1,
            Origin::None => self.ok += 1,
        }
    }
}
