//! Telling client from server in a capture that missed the SYN.
//!
//! Without the handshake the TCP layer guesses the roles from port numbers
//! (the ephemeral port is the client's). Content can overrule the guess:
//! `:method` and `:path` come from the client, `:status` from the server.
//! While the guess stands, the chain decodes the connection with a probe
//! (a throwaway HTTP/2 decoder) and holds the byte-stream events; once a
//! header block tells, or the probe has seen enough without being told,
//! the roles are settled and the held events are replayed, with their
//! directions corrected, into decoders built with the right roles. Nothing
//! above TCP is ever relabelled: the roles are decided before any of it
//! exists, here and nowhere else.

use super::Held;
use crate::h2::{H2Config, H2Conn, H2Summary, Start};
use crate::tcp::ConnId;
use std::sync::Arc;

/// Byte-stream bytes held while roles are unsettled: past this the port
/// numbers' guess is kept (a connection whose first megabytes carry no
/// request or response head has none to tell by).
pub(super) const MAX_HELD_BYTES: usize = 16 << 20;

/// The roles of a connection are being told apart.
pub(super) struct Settling {
    probe: H2Conn,
    held: Vec<Held>,
    held_bytes: usize,
    max_frames: u64,
}

/// What settling decided.
pub(super) enum Verdict {
    /// Not yet: keep holding.
    Open,
    /// Settled: replay `held`; the TCP layer's roles were backwards when `reversed`.
    Settled { reversed: bool, held: Vec<Held> },
}

impl Settling {
    /// Starts settling connection `id`, whose server (as guessed) listens on `server_port`.
    pub(super) fn new(id: ConnId, cfg: &Arc<H2Config>, server_port: u16) -> Self {
        // The probe keeps its header bytes to itself: the shared budget is
        // for the decoders that stay.
        let probe_cfg = H2Config { snapshot_tables: false, open_headers: Default::default(), ..(**cfg).clone() };
        Settling {
            probe: H2Conn::new(id, Arc::new(probe_cfg), server_port, false, Start::Search),
            held: Vec::new(),
            held_bytes: 0,
            max_frames: cfg.max_held_frames as u64,
        }
    }

    /// Takes one byte-stream event (as the TCP layer labelled it).
    pub(super) fn event(&mut self, ev: Held) -> Verdict {
        let mut scratch = Vec::new();
        match &ev {
            Held::Data { dir, ts, offset, data, packet } => {
                self.held_bytes = self.held_bytes.saturating_add(data.len());
                self.probe.data(*dir, *ts, *offset, data.clone(), *packet, &mut scratch);
            }
            Held::Gap { dir, ts, offset, len } => self.probe.gap(*dir, *ts, *offset, *len, &mut scratch),
        }
        self.held.push(ev);
        match self.probe.roles_shown() {
            Some(reversed) => self.settle(reversed),
            None if self.probe.frames_seen() >= self.max_frames || self.held_bytes >= MAX_HELD_BYTES => {
                self.settle(false)
            }
            None => Verdict::Open,
        }
    }

    /// The capture ended before the content told: the guess stands.
    pub(super) fn give_up(&mut self) -> Vec<Held> {
        std::mem::take(&mut self.held)
    }

    /// What the probe found so far (for a report asked for mid-capture).
    pub(super) fn summary(&self) -> H2Summary {
        self.probe.summary()
    }

    fn settle(&mut self, reversed: bool) -> Verdict {
        Verdict::Settled { reversed, held: std::mem::take(&mut self.held) }
    }
}

impl Held {
    /// The event with its direction seen from the other end.
    pub(super) fn reversed(self) -> Held {
        match self {
            Held::Data { dir, ts, offset, data, packet } => Held::Data { dir: dir.other(), ts, offset, data, packet },
            Held::Gap { dir, ts, offset, len } => Held::Gap { dir: dir.other(), ts, offset, len },
        }
    }
}
