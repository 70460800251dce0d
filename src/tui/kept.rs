//! Whole frames and calls, held for the details panes, that the lists keep
//! only as summaries: a live capture's most recent ones, and what re-reads
//! of the capture found. Bounded in memory: past the budget the oldest go
//! first (a capture file, or a live capture's `-w` file, can give them
//! back; without one they are gone and the details say so).

use crate::grpc::Call;
use crate::h2::Frame;
use crate::present::data_layout::DataLayout;
use crate::tcp::ConnId;
use crate::time::Timestamp;
use ahash::AHashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// A whole frame and, for DATA, the gRPC messages it carries.
pub type FullFrame = (Arc<Frame>, Option<Box<DataLayout>>);

/// `f` whole, as the detail panes show it: with `--redact-field`
/// (`mask_data`) its DATA payload zeroed, since which of its bytes are the
/// named fields is known only per message.
pub fn whole_frame(f: &Frame, layout: Option<DataLayout>, mask_data: bool) -> FullFrame {
    let mut f = f.clone();
    if mask_data && f.header.kind == crate::h2::frame::FrameType::DATA {
        f.payload = bytes::Bytes::from(vec![0u8; f.payload.len()]);
    }
    (Arc::new(f), layout.map(Box::new))
}

/// Whether the whole frames of a capture decoded with `cfg` are masked
/// (see [`whole_frame`]).
pub fn masks_data(cfg: &crate::analysis::PipelineConfig) -> bool {
    cfg.redact.as_ref().is_some_and(|r| r.has_fields())
}

/// Which frame: its connection and its place among that connection's frames.
pub type FrameKey = (ConnId, u32);

/// Which call: its connection, stream and start.
pub type CallKey = (ConnId, u32, Timestamp);

/// The key of call `c`.
pub fn call_key(c: &Call) -> CallKey {
    (c.conn, c.stream_id, c.start)
}

/// The key of something kept, in the order it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Frame(FrameKey),
    Call(CallKey),
}

/// What the re-reads of a capture file keep by default: the few whole
/// frames and calls last looked at.
pub const REREAD_MEMORY: usize = 32 << 20;

/// The store.
pub struct Kept {
    frames: AHashMap<FrameKey, FullFrame>,
    calls: AHashMap<CallKey, Arc<Call>>,
    /// Oldest first, with what each costs.
    order: VecDeque<(Key, usize)>,
    used: usize,
    /// Bytes it may hold (estimated).
    pub budget: usize,
    /// Items let go for the budget.
    pub evicted: u64,
}

impl Kept {
    /// An empty store of at most `budget` bytes.
    pub fn new(budget: usize) -> Kept {
        Kept { frames: AHashMap::new(), calls: AHashMap::new(), order: VecDeque::new(), used: 0, budget, evicted: 0 }
    }

    /// Keeps a whole frame.
    pub fn keep_frame(&mut self, key: FrameKey, frame: FullFrame) {
        let cost = frame_cost(&frame.0);
        if self.make_room(cost) && self.frames.insert(key, frame).is_none() {
            self.push(Key::Frame(key), cost);
        }
    }

    /// Keeps a whole call.
    pub fn keep_call(&mut self, key: CallKey, call: Arc<Call>) {
        let cost = call_cost(&call);
        if self.make_room(cost) && self.calls.insert(key, call).is_none() {
            self.push(Key::Call(key), cost);
        }
    }

    /// A whole frame, when kept.
    pub fn frame(&self, key: &FrameKey) -> Option<&FullFrame> {
        self.frames.get(key)
    }

    /// A whole call, when kept.
    pub fn call(&self, key: &CallKey) -> Option<&Arc<Call>> {
        self.calls.get(key)
    }

    /// Bytes held (estimated).
    pub fn used(&self) -> usize {
        self.used
    }

    fn push(&mut self, key: Key, cost: usize) {
        self.order.push_back((key, cost));
        self.used += cost;
    }

    /// Lets the oldest go until `cost` fits; false when it never can.
    fn make_room(&mut self, cost: usize) -> bool {
        if cost > self.budget {
            return false;
        }
        while self.used + cost > self.budget {
            let Some((key, c)) = self.order.pop_front() else { break };
            match key {
                Key::Frame(k) => drop(self.frames.remove(&k)),
                Key::Call(k) => drop(self.calls.remove(&k)),
            }
            self.used -= c;
            self.evicted += 1;
        }
        true
    }
}

/// Per heap object: an allocator's header and an Arc's counts, roughly.
const ALLOCATION: usize = 32;

/// What a whole frame keeps alive, roughly: the frame, its payload and its
/// header block (fields, names and values).
pub fn frame_cost(f: &Frame) -> usize {
    let block = f.block.as_ref().map_or(0, |b| {
        ALLOCATION
            + std::mem::size_of::<crate::h2::HeaderBlock>()
            + b.decoded.kept_memory
            + b.bytes.len()
            + b.decoded.fields.len() * std::mem::size_of::<crate::h2::hpack::HeaderField>()
    });
    let notes = f.notes.len() * std::mem::size_of::<crate::notes::Note>();
    ALLOCATION + std::mem::size_of::<Frame>() + f.payload.len() + notes + block
}

/// What a whole call keeps alive, roughly: its headers, messages and the
/// header blocks they were decoded from.
pub fn call_cost(c: &Call) -> usize {
    let pair = |(n, v): &crate::grpc::HeaderPair| {
        std::mem::size_of::<crate::grpc::HeaderPair>()
            + n.as_ref().map_or(0, |b| b.len() + ALLOCATION)
            + v.as_ref().map_or(0, |b| b.len() + ALLOCATION)
    };
    let headers: usize =
        [&c.request_headers, &c.response_headers, &c.trailers].iter().flat_map(|l| l.iter()).map(pair).sum();
    let messages: usize = c
        .requests
        .iter()
        .chain(&c.responses)
        .map(|m| std::mem::size_of::<crate::grpc::message::Message>() + m.data.as_ref().map_or(0, |d| d.len()))
        .sum();
    let blocks: usize = c
        .blocks
        .iter()
        .flatten()
        .filter_map(|h| h.wire::<crate::h2::HeaderBlock>())
        .map(|b| {
            ALLOCATION
                + std::mem::size_of::<crate::h2::HeaderBlock>()
                + b.bytes.len()
                + b.decoded.fields.len() * std::mem::size_of::<crate::h2::hpack::HeaderField>()
        })
        .sum();
    ALLOCATION
        + std::mem::size_of::<Call>()
        + headers
        + messages
        + blocks
        + c.response_body.as_ref().map_or(0, |b| b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(stream: u32, body: usize) -> Arc<Call> {
        let end = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let mut c = Call::new(1, end, end, stream, Timestamp(0));
        c.response_body = Some(bytes::Bytes::from(vec![b'x'; body]));
        Arc::new(c)
    }

    #[test]
    fn the_oldest_go_first_when_the_budget_is_spent() {
        let one = call_cost(&call(1, 1000));
        let mut k = Kept::new(one * 2 + one / 2);
        for s in 1..=3 {
            k.keep_call((1, s, Timestamp(0)), call(s, 1000));
        }
        assert!(k.call(&(1, 1, Timestamp(0))).is_none(), "the oldest went");
        assert!(k.call(&(1, 2, Timestamp(0))).is_some() && k.call(&(1, 3, Timestamp(0))).is_some());
        assert_eq!(k.evicted, 1);
        assert!(k.used() <= k.budget);
    }

    #[test]
    fn what_can_never_fit_is_not_kept_and_evicts_nothing() {
        let mut k = Kept::new(call_cost(&call(1, 10)) * 2);
        k.keep_call((1, 1, Timestamp(0)), call(1, 10));
        k.keep_call((1, 2, Timestamp(0)), call(2, 1 << 20));
        assert!(k.call(&(1, 1, Timestamp(0))).is_some());
        assert!(k.call(&(1, 2, Timestamp(0))).is_none());
        assert_eq!(k.evicted, 0);
    }
}
