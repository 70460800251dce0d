//! The output record of a connection: one struct, serialized as is by
//! `conns --format json`, fields in the order they are written.

use super::ladder;
use crate::analysis::channels::{self, Reconnect};
use crate::chain::{CallCounts, ConnReport};
use crate::exchange::Protocol;
use crate::h2::frame::setting_name;
use crate::h2::{Evidence, GoAwayRecord, H2Summary, SettingsRecord};

/// What a connection whose HTTP/2 decoder saw nothing shows (its record
/// keeps no summary, to stay small).
static BLANK_H2: H2Summary = H2Summary::new();
use crate::notes::NoteCode;
use crate::tcp::{ConnId, EndReason, HalfStats, RoleEvidence, Side};
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The TCP handshake, when its SYN was captured.
#[derive(Debug, Clone, Serialize)]
pub struct Handshake {
    /// Client SYN.
    pub syn: Option<Timestamp>,
    /// Server SYN-ACK.
    pub syn_ack: Option<Timestamp>,
    /// Client ACK.
    pub ack: Option<Timestamp>,
    /// SYN to ACK.
    pub rtt_ms: Option<f64>,
}

/// The channel a connection belongs to (client host → server endpoint).
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRef {
    /// Client host.
    pub client_host: String,
    /// Server `ip:port`.
    pub server: String,
}

/// One ladder step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// When.
    pub ts: Timestamp,
    /// What.
    pub step: String,
}

/// A value per direction.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PerDir {
    /// Client to server.
    pub client_to_server: u64,
    /// Server to client.
    pub server_to_client: u64,
}

impl From<[u64; 2]> for PerDir {
    fn from([client_to_server, server_to_client]: [u64; 2]) -> Self {
        PerDir { client_to_server, server_to_client }
    }
}

/// A SETTINGS frame one side sent.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsSent {
    /// When.
    pub ts: Timestamp,
    /// Parameters by name (a repeated one keeps its first place, its last value).
    pub params: Map<String, Value>,
    /// When the peer acknowledged it.
    pub acked: Option<Timestamp>,
}

/// A PING and its round trip.
#[derive(Debug, Clone, Serialize)]
pub struct Ping {
    /// Who sent it.
    pub from: Side,
    /// When.
    pub ts: Timestamp,
    /// Opaque data, hex.
    pub opaque: String,
    /// Until its ACK.
    pub rtt_ms: Option<f64>,
}

/// The HTTP/2 facts of a connection.
#[derive(Debug, Clone, Serialize)]
pub struct H2Record<'a> {
    /// How HTTP/2 was recognised.
    pub evidence: Option<Evidence>,
    /// When the client preface was seen.
    pub preface_ts: Option<Timestamp>,
    /// The TLS server name (SNI).
    pub tls_server_name: Option<&'a str>,
    /// SETTINGS sent by the client.
    pub client_settings: Vec<SettingsSent>,
    /// SETTINGS sent by the server.
    pub server_settings: Vec<SettingsSent>,
    /// PINGs.
    pub pings: Vec<Ping>,
    /// GOAWAYs.
    pub goaways: &'a [GoAwayRecord],
    /// Frames each way.
    pub frames: PerDir,
    /// Streams opened.
    pub streams: u64,
    /// Header fields from HPACK entries never seen.
    pub unknown_header_fields: u64,
    /// Notes at warning or error level.
    pub problems: u64,
    /// The same, by code.
    pub problem_codes: &'a BTreeMap<NoteCode, u64>,
    /// Times frame boundaries were found again.
    pub resyncs: PerDir,
    /// Bytes skipped finding them.
    pub skipped_bytes: PerDir,
}

/// The record of one connection.
#[derive(Debug, Clone, Serialize)]
pub struct ConnRecord<'a> {
    /// Number in the capture.
    pub id: ConnId,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// The names of the client and server hosts (`--names`, `--k8s`, DNS
    /// answers in the capture); null where none is known.
    pub names: &'a crate::chain::EndpointNames,
    /// How client and server were told apart.
    pub roles_from: RoleEvidence,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// The handshake, when captured.
    pub handshake: Option<Handshake>,
    /// SYN, SYN-ACK and ACK all seen.
    pub established: bool,
    /// Client to server.
    pub client_to_server: &'a HalfStats,
    /// Server to client.
    pub server_to_client: &'a HalfStats,
    /// How it ended.
    pub end: EndReason,
    /// When.
    pub end_ts: Timestamp,
    /// How it ended, as a phrase.
    pub end_text: String,
    /// Why, in words.
    pub why_ended: String,
    /// Its channel.
    pub channel: ChannelRef,
    /// The connection this one replaced.
    pub reconnect_of: Option<ConnId>,
    /// From that one's end to this one's start.
    pub reconnect_gap_ms: Option<f64>,
    /// How that one ended.
    pub previous_end: Option<String>,
    /// What it carried.
    pub protocol: Option<Protocol>,
    /// Its calls by outcome.
    pub calls: CallCounts,
    /// Handshake and HTTP/2 set-up, in time order.
    pub ladder: Vec<Step>,
    /// HTTP/2 facts.
    pub h2: Option<H2Record<'a>>,
    /// TLS facts (never a secret: the client random's first 8 hex digits at most).
    pub tls: Option<&'a crate::tls::TlsSummary>,
}

fn settings(list: &[SettingsRecord]) -> Vec<SettingsSent> {
    let params = |s: &SettingsRecord| s.params.iter().map(|(id, v)| (setting_name(*id), Value::from(*v))).collect();
    list.iter().map(|s| SettingsSent { ts: s.ts, params: params(s), acked: s.acked }).collect()
}

impl<'a> ConnRecord<'a> {
    /// The record of `r`, with its reconnect when it replaced another.
    pub fn new(r: &'a ConnReport, reconnect: Option<&Reconnect>) -> Self {
        let c = &r.tcp;
        let h = r.h2.as_deref().unwrap_or(&BLANK_H2);
        let [client_to_server, server_to_client] = &c.dirs;
        let handshake = c.syn_ts.map(|_| Handshake {
            syn: c.syn_ts,
            syn_ack: c.synack_ts,
            ack: c.ack_ts,
            rtt_ms: c.handshake_rtt_nanos().map(|n| n as f64 / 1e6),
        });
        ConnRecord {
            id: c.id,
            client: c.client.to_string(),
            server: c.server.to_string(),
            names: &r.names,
            roles_from: c.roles_from,
            first_ts: c.first_ts,
            last_ts: c.last_ts,
            handshake,
            established: c.established,
            client_to_server,
            server_to_client,
            end: c.end,
            end_ts: c.end_ts,
            end_text: c.end_text(),
            why_ended: channels::why_ended(r),
            channel: ChannelRef { client_host: c.client.ip().to_string(), server: c.server.to_string() },
            reconnect_of: reconnect.map(|x| x.reconnect_of),
            reconnect_gap_ms: reconnect.map(|x| x.gap_ms),
            previous_end: reconnect.map(|x| x.previous_end.clone()),
            protocol: Some(r.protocol),
            calls: r.calls,
            ladder: ladder(r).into_iter().map(|(ts, step)| Step { ts, step }).collect(),
            tls: r.tls.as_deref(),
            h2: Some(H2Record {
                evidence: h.evidence,
                preface_ts: h.preface_ts,
                tls_server_name: r.tls_server_name.as_deref(),
                client_settings: settings(&h.client_settings),
                server_settings: settings(&h.server_settings),
                pings: h
                    .pings
                    .iter()
                    .map(|p| Ping {
                        from: p.from,
                        ts: p.ts,
                        opaque: p.opaque.clone(),
                        rtt_ms: p.rtt_nanos.map(|n| n as f64 / 1e6),
                    })
                    .collect(),
                goaways: &h.goaways,
                frames: h.frames.into(),
                streams: h.streams,
                unknown_header_fields: h.unknown_header_fields,
                problems: h.problems,
                problem_codes: &h.problem_codes,
                resyncs: h.resyncs.into(),
                skipped_bytes: h.skipped_bytes.into(),
            }),
        }
    }
}
