//! The connection-level records of an HTTP/2 connection: the SETTINGS each
//! side sent and when the other acknowledged them, PINGs with their round
//! trips, GOAWAYs. One owner of them, kept apart from framing and streams;
//! bounded, whatever the peer sends.

use super::frame::error_name;
use super::types::{GoAwayRecord, H2Summary, PingRecord, SettingsRecord};
use crate::tcp::Dir;
use crate::time::Timestamp;

/// Longest GOAWAY debug text kept.
const MAX_DEBUG: usize = 1024;
/// Records kept per connection for SETTINGS, PING and GOAWAY (the rest are counted as frames).
const MAX_RECORDS: usize = 256;
/// PINGs waiting for their ACK, at most (the oldest are forgotten).
const MAX_OUTSTANDING_PINGS: usize = 64;

/// SETTINGS, PING and GOAWAY records.
#[derive(Debug, Default, Clone)]
pub(crate) struct Records {
    /// SETTINGS sent, by the sender's direction index (client first).
    settings: [Vec<SettingsRecord>; 2],
    pings: Vec<PingRecord>,
    goaways: Vec<GoAwayRecord>,
    /// PINGs awaiting an ACK: (opaque data, direction sent, index in `pings`).
    outstanding: Vec<([u8; 8], Dir, usize)>,
}

impl Records {
    /// The sender of `dir` sent SETTINGS.
    pub(crate) fn settings_sent(&mut self, dir: Dir, ts: Timestamp, params: &[(u16, u32)]) {
        if let Some(mine) = self.settings.get_mut(dir.index()) {
            if mine.len() < MAX_RECORDS {
                mine.push(SettingsRecord { ts, params: params.to_vec(), acked: None });
            }
        }
    }

    /// A SETTINGS ACK sent in `dir`: it acknowledges the oldest
    /// unacknowledged SETTINGS of the peer.
    pub(crate) fn settings_acked(&mut self, dir: Dir, ts: Timestamp) {
        if let Some(theirs) = self.settings.get_mut(dir.other().index()) {
            if let Some(r) = theirs.iter_mut().find(|r| r.acked.is_none()) {
                r.acked = Some(ts);
            }
        }
    }

    /// A PING or its ACK sent in `dir`.
    pub(crate) fn ping(&mut self, dir: Dir, ts: Timestamp, ack: bool, opaque: [u8; 8]) {
        if !ack {
            if self.pings.len() < MAX_RECORDS {
                let hex: String = opaque.iter().map(|b| format!("{b:02x}")).collect();
                self.pings.push(PingRecord { from: dir.sender(), ts, opaque: hex, rtt_nanos: None });
                if self.outstanding.len() >= MAX_OUTSTANDING_PINGS {
                    self.outstanding.remove(0);
                }
                self.outstanding.push((opaque, dir, self.pings.len() - 1));
            }
            return;
        }
        if let Some(pos) = self.outstanding.iter().position(|(o, d, _)| *o == opaque && *d == dir.other()) {
            let (_, _, idx) = self.outstanding.remove(pos);
            if let Some(p) = self.pings.get_mut(idx) {
                p.rtt_nanos = Some(ts.nanos_since(p.ts));
            }
        }
    }

    /// A GOAWAY sent in `dir`, with its debug data.
    pub(crate) fn goaway(&mut self, dir: Dir, ts: Timestamp, last_stream_id: u32, error_code: u32, debug: &[u8]) {
        if self.goaways.len() < MAX_RECORDS {
            let debug = String::from_utf8_lossy(debug.get(..MAX_DEBUG).unwrap_or(debug)).into_owned();
            let error_name = error_name(error_code);
            self.goaways.push(GoAwayRecord { from: dir.sender(), ts, last_stream_id, error_code, error_name, debug });
        }
    }

    /// Writes the records into a connection summary.
    pub(crate) fn fill(&self, summary: &mut H2Summary) {
        let [client, server] = &self.settings;
        summary.client_settings.clone_from(client);
        summary.server_settings.clone_from(server);
        summary.pings.clone_from(&self.pings);
        summary.goaways.clone_from(&self.goaways);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_pair_with_the_peer_and_records_stay_bounded() {
        let mut r = Records::default();
        r.settings_sent(Dir::ToServer, Timestamp(1), &[(4, 65_535)]);
        r.settings_acked(Dir::ToClient, Timestamp(5));
        r.ping(Dir::ToServer, Timestamp(10), false, [1; 8]);
        r.ping(Dir::ToServer, Timestamp(12), true, [1; 8]);
        r.ping(Dir::ToClient, Timestamp(15), true, [1; 8]);
        for i in 0..1000u32 {
            r.goaway(Dir::ToClient, Timestamp(20), i, 0, &[b'x'; 4096]);
        }
        let mut s = H2Summary::new();
        r.fill(&mut s);
        assert_eq!(s.client_settings[0].acked, Some(Timestamp(5)));
        assert_eq!(s.pings[0].rtt_nanos, Some(5), "the client's own ACK does not answer its PING");
        assert_eq!((s.goaways.len(), s.goaways[0].debug.len()), (MAX_RECORDS, MAX_DEBUG));
    }
}
