//! One capture decoded by several pipelines at once (`stats -j N`). Every
//! pipeline is handed every batch of packets (shared, not copied) and
//! decodes the connections whose addresses hash to it
//! ([`Shard`](super::pipeline::Shard)): a connection, its role decisions
//! and its calls stay within one pipeline, so nothing crosses threads but
//! the batches going in and the statistics coming out. Connections are
//! numbered by the packet that opened them, and [`Renumbering`] turns those
//! numbers back into 1, 2, 3 in the order the connections opened, as one
//! pipeline would have numbered them.

use super::pipeline::{Pipeline, PipelineConfig, Sink};
use super::stats::Stats;
use crate::capture::Packet;
use crate::tcp::ConnId;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

/// Batches waiting for each pipeline at most: the reader runs ahead of the
/// slowest one by this much, and memory stays flat.
const QUEUED_BATCHES: usize = 8;

/// Runs `count` pipelines of `cfg` (each a [`PipelineConfig::sharded`]
/// share) with sinks from `make`, one thread each, over `batches`, which
/// this thread reads; returns them finished, in share order.
pub fn decode_sharded<S, M>(
    cfg: &PipelineConfig,
    count: usize,
    make: M,
    batches: impl Iterator<Item = Vec<Packet>>,
) -> Vec<Pipeline<S>>
where
    S: Sink + Send,
    M: Fn() -> S,
{
    let count = count.max(1);
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(count);
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let (tx, rx) = sync_channel::<Arc<Vec<Packet>>>(QUEUED_BATCHES);
            senders.push(tx);
            let mut p = Pipeline::new(cfg.sharded(index, count), make());
            workers.push(scope.spawn(move || {
                'batches: for batch in rx {
                    for pkt in batch.iter() {
                        // Leaving the loop drops the receiver: the reader's
                        // sends to this pipeline fail quietly from then on.
                        if p.packet(pkt).is_break() {
                            break 'batches;
                        }
                    }
                }
                p.finish();
                p
            }));
        }
        for batch in batches {
            let batch = Arc::new(batch);
            for tx in &senders {
                let _ = tx.send(batch.clone());
            }
        }
        drop(senders);
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    })
}

/// From the packet numbers sharded pipelines give connections to the
/// numbers one pipeline gives: their rank in the order they opened.
pub struct Renumbering {
    opened: Vec<ConnId>,
}

impl Renumbering {
    /// The numbering of every connection the `shards` opened.
    pub fn of<S: Sink>(shards: &[Pipeline<S>]) -> Self {
        let mut opened: Vec<ConnId> = shards.iter().flat_map(|p| p.opened_ids().iter().copied()).collect();
        opened.sort_unstable();
        Renumbering { opened }
    }

    /// Connection `packet_id`'s number (unchanged if no shard opened it).
    pub fn id(&self, packet_id: ConnId) -> ConnId {
        self.opened.binary_search(&packet_id).map_or(packet_id, |i| i as ConnId + 1)
    }
}

/// The statistics of all `shards` in one, added to `into` (an empty
/// [`Stats`] with the filter and breakdowns the shards had).
pub fn merge_stats(shards: Vec<Pipeline<Stats>>, mut into: Stats) -> Stats {
    let numbering = Renumbering::of(&shards);
    for p in shards {
        let counters = p.counters.clone();
        let mut stats = p.sink;
        stats.capture = counters;
        into.merge(stats, &|c| numbering.id(c));
    }
    into
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::packets_from_bytes;

    /// Connections opened at packets 3, 10 and 7 across two shards are
    /// connections 1, 3 and 2.
    #[test]
    fn renumbering_follows_the_opening_packets() {
        let r = Renumbering { opened: vec![3, 7, 10] };
        assert_eq!([r.id(3), r.id(7), r.id(10), r.id(99)], [1, 2, 3, 99]);
    }

    /// Three shards of a capture of 301 connections (300 unanswered SYNs,
    /// then a call) add up to what one pipeline counts, packets included.
    #[test]
    fn shards_add_up_to_one_pipeline() {
        let (packets, _) = packets_from_bytes(&crate::synth::adversarial::syn_flood(300)).unwrap();
        let cfg = PipelineConfig::new();
        let mut one = Pipeline::new(cfg.clone(), Stats::default());
        for p in &packets {
            let _ = one.packet(p);
        }
        one.finish();
        let shards = decode_sharded(&cfg, 3, Stats::default, packets.chunks(7).map(<[Packet]>::to_vec));
        assert_eq!(shards.len(), 3);
        let opened: Vec<usize> = shards.iter().map(|p| p.opened_ids().len()).collect();
        assert!(opened.iter().all(|n| *n > 50), "every shard got connections: {opened:?}");
        assert_eq!(opened.iter().sum::<usize>(), 301);
        let merged = merge_stats(shards, Stats::default());
        assert_eq!(merged.total.calls, 1);
        assert_eq!(merged.total.calls, one.sink.total.calls);
        assert_eq!(merged.connections, one.sink.connections);
        assert_eq!(merged.capture.packets, one.counters.packets);
        assert_eq!(merged.capture.tcp_packets, one.counters.tcp_packets);
    }
}
