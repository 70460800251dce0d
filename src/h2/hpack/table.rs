//! HPACK's static table (RFC 7541 Appendix A) and dynamic table (§2.3.2, §4).
//!
//! The dynamic table may be *incomplete*: when a capture starts
//! mid-connection (or bytes were lost), entries were inserted that we never
//! saw. What we do know is the newest entries, in order, because every
//! insertion we observe goes to the front. A reference to index `62 + i`
//! with `i` below the number of entries we know is therefore exact; past
//! that it is unknown, and is reported as unknown, never guessed.

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
/// literal whose name referred to an entry we never saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Header name, if known.
    pub name: Option<Bytes>,
    /// Header value (always known: insertions carry it literally).
    pub value: Bytes,
}

impl Entry {
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
    /// A dynamic entry inserted before what we observed.
    Unknown,
    /// An index that cannot exist (a decoding error).
    Invalid,
}

/// The dynamic table of one decoder (one direction of one connection).
#[derive(Debug, Clone)]
pub struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// False when entries older than the ones we hold may exist.
    complete: bool,
    /// Entries evicted so far (for the HPACK view).
    pub evictions: u64,
}

impl DynamicTable {
    /// An empty table of `max_size` bytes; `complete` when we saw the
    /// connection from its start.
    pub fn new(max_size: usize, complete: bool) -> Self {
        DynamicTable { entries: VecDeque::new(), size: 0, max_size, complete, evictions: 0 }
    }

    /// Forgets everything: bytes were lost, so insertions may have been missed.
    pub fn lose_track(&mut self) {
        self.entries.clear();
        self.size = 0;
        self.complete = false;
    }

    /// Whether every entry the encoder holds is known to us.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Current size in bytes.
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
        match self.entries.get(i) {
            Some(e) => Lookup::Dynamic(e.clone()),
            None if !self.complete => Lookup::Unknown,
            None => Lookup::Invalid,
        }
    }

    /// Inserts at the front, evicting from the back (§4.4). Returns how many
    /// entries were evicted.
    pub fn insert(&mut self, entry: Entry) -> usize {
        let size = entry.size();
        let evicted = self.evict_to(self.max_size.saturating_sub(size));
        if size <= self.max_size {
            self.size += size;
            self.entries.push_front(entry);
        } else {
            // §4.4: an entry larger than the table empties it and is not added.
            let more = self.entries.len();
            self.entries.clear();
            self.size = 0;
            self.evictions += more as u64;
            return evicted + more;
        }
        evicted
    }

    /// A dynamic table size update or a new SETTINGS limit (§4.3).
    pub fn set_max_size(&mut self, max_size: usize) -> usize {
        self.max_size = max_size;
        self.evict_to(max_size)
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
        self.evictions += n as u64;
        n
    }
}
