//! The pipeline driver: packets in, layer events out to a sink.

use crate::capture::Packet;
use crate::net::{self, Decoded, Skip};
use crate::tcp::{ConnSummary, FlowTable, StreamEvent, TcpConfig};
use serde::Serialize;
use std::collections::BTreeMap;

/// Receives what the pipeline finds. Every method has a default that
/// ignores the event, so a sink implements only what it prints.
pub trait Sink {
    /// A TCP-level event (connection opened, bytes, gap, FIN, close).
    fn stream_event(&mut self, _ev: &StreamEvent) {}
    /// A connection left the flow table with its final record.
    fn connection(&mut self, _conn: ConnSummary) {}
}

/// Settings for every layer.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// TCP limits and role hints.
    pub tcp: TcpConfig,
}

/// What the capture held, at packet level.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureCounters {
    /// Packets read.
    pub packets: u64,
    /// Bytes captured (sum of captured lengths).
    pub captured_bytes: u64,
    /// Packets carrying a TCP segment.
    pub tcp_packets: u64,
    /// Packets whose captured length was shorter than their wire length.
    pub snaplen_cut: u64,
    /// Packets ignored, by reason.
    pub ignored: BTreeMap<String, u64>,
}

/// Packets in, events out.
pub struct Pipeline<S: Sink> {
    tcp: FlowTable,
    events: Vec<StreamEvent>,
    /// Packet-level counters.
    pub counters: CaptureCounters,
    /// The sink receiving everything.
    pub sink: S,
}

impl<S: Sink> Pipeline<S> {
    /// A pipeline delivering to `sink`.
    pub fn new(cfg: PipelineConfig, sink: S) -> Self {
        Pipeline {
            tcp: FlowTable::new(cfg.tcp),
            events: Vec::with_capacity(16),
            counters: CaptureCounters::default(),
            sink,
        }
    }

    /// Processes one packet.
    pub fn packet(&mut self, pkt: &Packet) {
        self.counters.packets += 1;
        self.counters.captured_bytes += pkt.data.len() as u64;
        if (pkt.data.len() as u64) < u64::from(pkt.orig_len) {
            self.counters.snaplen_cut += 1;
        }
        match net::decode(pkt.link, &pkt.data) {
            Decoded::Tcp(seg) => {
                self.counters.tcp_packets += 1;
                let payload = pkt.data.slice(seg.payload.clone());
                self.tcp
                    .segment(pkt.ts, pkt.number, &seg, payload, &mut self.events);
                self.dispatch();
            }
            Decoded::Skipped(why) => self.ignore(why),
        }
    }

    fn ignore(&mut self, why: Skip) {
        *self
            .counters
            .ignored
            .entry(why.label().to_string())
            .or_default() += 1;
    }

    /// The capture ended: flushes every connection.
    pub fn finish(&mut self) {
        self.tcp.finish(&mut self.events);
        self.dispatch();
    }

    fn dispatch(&mut self) {
        for ev in self.events.drain(..) {
            self.sink.stream_event(&ev);
            if let StreamEvent::Finished(summary) = ev {
                self.sink.connection(*summary);
            }
        }
    }

    /// Connections seen so far.
    pub fn connections_seen(&self) -> u64 {
        self.tcp.connections_seen()
    }
}
