//! HPACK's static table (RFC 7541 Appendix A) and dynamic table (§2.3.2, §4).
//!
//! The dynamic table may be *incomplete*: when a capture starts
//! mid-connection (or bytes were lost), entries were inserted that we never
//! saw. What we do know is the newest entries, in order, because every
//! insertion we observe goes to the front. A reference to index `62 + i`
//! with `i` below the number of entries we know is therefore exact; past
//! that it is a numbered unknown slot ([`Slot`]), the same one at every
//! reference, and never a guess.

pub use crate::exchange::Slot;
use bytes::Bytes;
use std::collections::VecDeque;

/// The 61 static entries; index 1 is `STATIC[0]`.
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Number of static entries; dynamic indices start after it.
pub const STATIC_LEN: u32 = 61;

/// RFC 7541 §4.1: each entry costs its name and value lengths plus 32.
pub const ENTRY_OVERHEAD: usize = 32;

/// A dynamic-table entry. The name is unknown when it was inserted by a
/// literal whose name referred to an entry we never saw; `name_of` then
/// says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Header name, if known.
    pub name: Option<Bytes>,
    /// Header value (always known: insertions carry it literally).
    pub value: Bytes,
    /// The unknown entry whose name this one shares, when `name` is unknown.
    pub name_of: Option<Slot>,
}

impl Entry {
    /// An entry with a known name.
    pub fn new(name: Bytes, value: Bytes) -> Self {
        Entry { name: Some(name), value, name_of: None }
    }

    /// Size by RFC 7541 §4.1 (a lower bound when the name is unknown).
    pub fn size(&self) -> usize {
        self.name.as_ref().map_or(0, |n| n.len()) + self.value.len() + ENTRY_OVERHEAD
    }
}

/// What an index refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A static entry.
    Static(&'static str, &'static str),
    /// A dynamic entry we know.
    Dynamic(Entry),
    /// A dynamic entry inserted before what we observed: always the same
    /// slot for the same entry, however the table moved since.
    Unknown(Slot),
    /// An index that cannot exist (a decoding error).
    Invalid,
}

/// The entries older than every entry we saw inserted, when there may be
/// any: slot `n` sits right after the `n - 1`th of them, behind the known
/// entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UnknownTail {
    epoch: u32,
}

/// The dynamic table of one decoder (one direction of one connection).
///
/// When the table predates what we saw, it is modelled exactly as the
/// entries we saw inserted (newest first) followed by an unknown tail of
/// numbered [`Slot`]s. Insertions push the tail back without renumbering
/// it, and the encoder evicts the tail before any entry we know, so an
/// index past the known entries always resolves to the same slot. Entry
/// sizes in the tail are unknown, so a known entry is evicted only when
/// the known entries alone overflow the table, and the tail is known gone
/// when no entry (32 bytes at least) fits beside them.
#[derive(Debug, Clone)]
pub struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// Whether `max_size` is the encoder's (false until a size update or
    /// SETTINGS when the table predates the capture: eviction then waits
    /// for our own limit, which only ever keeps entries the encoder no
    /// longer references).
    max_known: bool,
    tail: Option<UnknownTail>,
    /// Epochs of unknown tails begun so far.
    epochs: u32,
    /// Entries evicted so far (for the HPACK view).
    pub evictions: u64,
}

impl DynamicTable {
    /// An empty table of `max_size` bytes; `complete` when we saw the
    /// connection from its start. An incomplete table starts as an unknown
    /// tail only, of unknown maximum size (bounded by `max_size`).
    pub fn new(max_size: usize, complete: bool) -> Self {
        let tail = (!complete).then_some(UnknownTail { epoch: 0 });
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
            max_known: complete,
            tail,
            epochs: u32::from(!complete),
            evictions: 0,
        }
    }

    /// Forgets everything: bytes were lost, so insertions may have been
    /// missed. What the table holds becomes a new epoch of unknown slots.
    pub fn lose_track(&mut self) {
        self.entries.clear();
        self.size = 0;
        self.tail = Some(UnknownTail { epoch: self.epochs });
        self.epochs = self.epochs.saturating_add(1);
        // A size update may have been lost too.
        self.max_known = false;
    }

    /// Whether every entry the encoder holds is known to us.
    pub fn is_complete(&self) -> bool {
        self.tail.is_none()
    }

    /// Current size in bytes (of the known entries).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Current maximum size in bytes.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Entries, newest first (index 62 first).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Looks up a 1-based HPACK index.
    pub fn get(&self, index: u32) -> Lookup {
        if index == 0 {
            return Lookup::Invalid;
        }
        if index <= STATIC_LEN {
            return match STATIC.get(index as usize - 1) {
                Some((n, v)) => Lookup::Static(n, v),
                None => Lookup::Invalid,
            };
        }
        let i = (index - STATIC_LEN - 1) as usize;
        if let Some(e) = self.entries.get(i) {
            return Lookup::Dynamic(e.clone());
        }
        match self.tail {
            Some(tail) => {
                let number = i - self.entries.len() + 1;
                // Every entry takes 32 bytes at least: more cannot fit.
                let room = self.max_size.saturating_sub(self.size) / ENTRY_OVERHEAD;
                match u32::try_from(number) {
                    Ok(number) if number as usize <= room => Lookup::Unknown(Slot { epoch: tail.epoch, number }),
                    _ => Lookup::Invalid,
                }
            }
            None => Lookup::Invalid,
        }
    }

    /// Inserts at the front, evicting from the back (§4.4). Returns how many
    /// known entries were evicted.
    pub fn insert(&mut self, entry: Entry) -> usize {
        let size = entry.size();
        if size > self.max_size {
            // §4.4: an entry larger than the table empties it and is not added.
            let more = self.entries.len();
            self.entries.clear();
            self.size = 0;
            self.evictions += more as u64;
            if self.max_known {
                self.tail = None;
            }
            return more;
        }
        let evicted = self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front(entry);
        self.settle_tail();
        evicted
    }

    /// A dynamic table size update or a new SETTINGS limit (§4.3): the
    /// maximum is the encoder's from now on.
    pub fn set_max_size(&mut self, max_size: usize) -> usize {
        self.max_size = max_size;
        self.max_known = true;
        let n = self.evict_to(max_size);
        self.settle_tail();
        n
    }

    /// The unknown tail is gone once not even the smallest entry fits
    /// beside the known ones.
    fn settle_tail(&mut self) {
        if self.max_known && self.size + ENTRY_OVERHEAD > self.max_size {
            self.tail = None;
        }
    }

    fn evict_to(&mut self, target: usize) -> usize {
        let mut n = 0;
        while self.size > target {
            match self.entries.pop_back() {
                Some(e) => {
                    self.size = self.size.saturating_sub(e.size());
                    n += 1;
                }
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
        if n > 0 {
            // The encoder evicts its oldest entries first: the tail went before these.
            self.tail = None;
        }
        self.evictions += n as u64;
        n
    }
}
