//! Rendering on the second core.
//!
//! Decoding protobuf bodies and writing JSON or text costs as much as
//! everything below it, and it needs only finished calls, in the order
//! the pipeline produced them. [`CallsOnThread`] hands those calls, in
//! batches, to a thread that owns the real sink: output is byte for byte
//! what a single thread writes, in half the wall time on two cores.

use crate::analysis::{Flow, Sink, Stop, CONTINUE};
use crate::grpc::GrpcEvent;
use crate::time::Timestamp;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// Finished calls per hand-over: enough that the channel is free per call.
const BATCH: usize = 256;
/// Batches in flight: bounds memory when the renderer is the slower side.
const IN_FLIGHT: usize = 16;

/// What crosses to the rendering thread.
enum Item {
    /// A gRPC event.
    Grpc(GrpcEvent),
    /// The capture's first packet's time.
    Began(Timestamp),
}

/// A [`Sink`] that forwards `grpc_event`s (and `capture_began`) to `S` on
/// its own thread. Only for sinks that use nothing else.
pub struct CallsOnThread<S: Sink + Send + 'static> {
    tx: Option<SyncSender<Vec<Item>>>,
    batch: Vec<Item>,
    batch_len: usize,
    worker: Option<JoinHandle<S>>,
}

impl<S: Sink + Send + 'static> CallsOnThread<S> {
    /// Starts the thread that feeds `sink`, in batches (reading a file).
    pub fn spawn(sink: S) -> Self {
        Self::spawn_batched(sink, BATCH)
    }

    /// Starts the thread that feeds `sink`, `batch_len` events at a time
    /// (1 for a live capture, where each call must show as it ends).
    pub fn spawn_batched(mut sink: S, batch_len: usize) -> Self {
        let batch_len = batch_len.max(1);
        let (tx, rx) = sync_channel::<Vec<Item>>(IN_FLIGHT);
        let worker = std::thread::spawn(move || {
            // A sink that stops (its output closed) ends the thread; the
            // channel closing then stops the pipeline on the other side.
            'batches: for batch in rx {
                for item in batch {
                    let flow = match item {
                        Item::Grpc(ev) => sink.grpc_event(ev),
                        Item::Began(ts) => sink.capture_began(ts),
                    };
                    if flow.is_break() {
                        break 'batches;
                    }
                }
            }
            sink
        });
        CallsOnThread { tx: Some(tx), batch: Vec::with_capacity(batch_len), batch_len, worker: Some(worker) }
    }

    /// Hands the batch over; `Break` once the renderer is gone (its sink
    /// stopped, or it panicked: `finish` tells which).
    fn send(&mut self) -> Flow {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_len));
        if let Some(tx) = &self.tx {
            if tx.send(batch).is_err() {
                self.tx = None;
            }
        }
        match self.tx {
            Some(_) => CONTINUE,
            None => Flow::Break(Stop::Done),
        }
    }

    /// Delivers what is pending, waits for the thread, returns the sink;
    /// `None` if the renderer panicked.
    pub fn finish(mut self) -> Option<S> {
        let _ = self.send();
        self.tx = None;
        self.worker.take()?.join().ok()
    }
}

impl<S: Sink + Send + 'static> Sink for CallsOnThread<S> {
    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        self.batch.push(Item::Grpc(ev));
        if self.batch.len() >= self.batch_len {
            return self.send();
        }
        CONTINUE
    }

    fn capture_began(&mut self, ts: Timestamp) -> Flow {
        self.batch.push(Item::Began(ts));
        CONTINUE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen(Vec<u32>);
    impl Sink for Seen {
        fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
            if let GrpcEvent::Started { stream_id, .. } = ev {
                self.0.push(stream_id);
            }
            CONTINUE
        }
    }

    #[test]
    fn every_event_arrives_in_order_across_batches() {
        let mut s = CallsOnThread::spawn(Seen::default());
        let ids: Vec<u32> = (0..1001).map(|i| i * 2 + 1).collect();
        for &stream_id in &ids {
            let _ = s.grpc_event(GrpcEvent::Started { conn: 1, stream_id, start: Timestamp::from_parts(1, 0) });
        }
        assert_eq!(s.finish().map(|c| c.0), Some(ids));
    }
}
