//! Header bytes kept across every open stream of every connection. Each
//! header block is bounded by --max-header-list, but two hundred open
//! streams of a block each just under it are two hundred times it: this
//! budget bounds the total. A stream's blocks are charged when decoded and
//! released when the stream closes or its connection goes.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default budget: 64 MiB of header lists (RFC 7541 sizes) open at once.
pub const DEFAULT_OPEN_HEADERS: usize = 64 << 20;

/// The shared budget (`--max-open-headers`).
#[derive(Debug)]
pub struct HeaderBudget {
    limit: usize,
    used: AtomicUsize,
}

impl HeaderBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        HeaderBudget { limit, used: AtomicUsize::new(0) }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes still free.
    pub fn left(&self) -> usize {
        self.limit.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Charges `n` bytes (kept by an open stream).
    pub fn charge(&self, n: usize) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }

    /// Releases `n` bytes charged before.
    pub fn release(&self, n: usize) {
        // Never below zero, whatever the order of charges and releases.
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(n)));
    }
}

impl Default for HeaderBudget {
    fn default() -> Self {
        HeaderBudget::new(DEFAULT_OPEN_HEADERS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_and_releases_never_underflow() {
        let b = HeaderBudget::new(100);
        b.charge(70);
        assert_eq!(b.left(), 30);
        b.charge(50);
        assert_eq!(b.left(), 0);
        b.release(200);
        assert_eq!(b.left(), 100);
    }
}
