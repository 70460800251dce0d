//! Latency percentiles in bounded memory.
//!
//! Up to [`EXACT`] samples are kept as they are, so small captures get
//! exact nearest-rank percentiles. Past that, samples go into log-linear
//! buckets (128 per power of two: under 0.8% relative error), so a capture
//! of a billion calls costs the same memory as one of ten thousand.

use std::collections::BTreeMap;

/// Samples kept exactly before switching to buckets.
pub const EXACT: usize = 4096;
const SUB_BITS: u32 = 7;

/// A histogram of non-negative durations (nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    exact: Vec<i64>,
    buckets: BTreeMap<u32, u64>,
    count: u64,
    /// Exact, so that histograms merged in any order have the same mean.
    sum: u128,
    min: Option<i64>,
    max: Option<i64>,
}

fn bucket_of(v: u64) -> u32 {
    if v < (1 << SUB_BITS) {
        return v as u32;
    }
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    ((e - SUB_BITS + 1) << SUB_BITS) | sub as u32
}

/// The middle of a bucket.
fn bucket_value(b: u32) -> f64 {
    let sub_n = 1u64 << SUB_BITS;
    if u64::from(b) < sub_n {
        return f64::from(b);
    }
    let e = (b >> SUB_BITS) + SUB_BITS - 1;
    let sub = u64::from(b) & (sub_n - 1);
    let low = (sub_n + sub) << (e - SUB_BITS);
    let width = 1u64 << (e - SUB_BITS);
    low as f64 + width as f64 / 2.0
}

impl Histogram {
    /// Records one duration (negative ones, from clock oddities, count as 0).
    pub fn record(&mut self, nanos: i64) {
        let v = nanos.max(0);
        self.count += 1;
        self.sum += v as u128;
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        if self.buckets.is_empty() && self.exact.len() < EXACT {
            self.exact.push(v);
            return;
        }
        for e in self.exact.drain(..) {
            *self.buckets.entry(bucket_of(e as u64)).or_default() += 1;
        }
        *self.buckets.entry(bucket_of(v as u64)).or_default() += 1;
    }

    /// Adds `other`'s samples, as if each had been recorded here: exact
    /// while both are and there is room, buckets otherwise.
    pub fn merge(&mut self, other: &Histogram) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = [self.min, other.min].into_iter().flatten().min();
        self.max = [self.max, other.max].into_iter().flatten().max();
        if self.buckets.is_empty() && other.buckets.is_empty() && self.exact.len() + other.exact.len() <= EXACT {
            self.exact.extend_from_slice(&other.exact);
            return;
        }
        for e in self.exact.drain(..).chain(other.exact.iter().copied()) {
            *self.buckets.entry(bucket_of(e as u64)).or_default() += 1;
        }
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest sample.
    pub fn min(&self) -> Option<i64> {
        self.min
    }

    /// Largest sample.
    pub fn max(&self) -> Option<i64> {
        self.max
    }

    /// Mean.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// Counts per decade of latency: `<10us`, `<100us`, ... `>=10s`.
    pub fn by_decade(&self) -> Vec<(String, u64)> {
        const EDGES: [(i64, &str); 7] = [
            (10_000, "<10us"),
            (100_000, "<100us"),
            (1_000_000, "<1ms"),
            (10_000_000, "<10ms"),
            (100_000_000, "<100ms"),
            (1_000_000_000, "<1s"),
            (10_000_000_000, "<10s"),
        ];
        let mut counts = [0u64; 8];
        let mut add = |v: f64, n: u64| {
            let i = EDGES.iter().position(|(e, _)| v < *e as f64).unwrap_or(7);
            if let Some(c) = counts.get_mut(i) {
                *c += n;
            }
        };
        if self.buckets.is_empty() {
            self.exact.iter().for_each(|v| add(*v as f64, 1));
        } else {
            self.buckets.iter().for_each(|(b, n)| add(bucket_value(*b), *n));
        }
        let mut labels: Vec<String> = EDGES.iter().map(|(_, l)| l.to_string()).collect();
        labels.push(">=10s".into());
        labels.into_iter().zip(counts).collect()
    }

    /// The `p`-th percentile (0..=100) by nearest rank.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        if rank >= self.count {
            // The top rank is the maximum, which is kept exactly.
            return self.max.map(|m| m as f64);
        }
        if self.buckets.is_empty() {
            let mut sorted = self.exact.clone();
            sorted.sort_unstable();
            return sorted.get(rank as usize - 1).map(|v| *v as f64);
        }
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let v = bucket_value(*b);
                // Never report past the true extremes.
                return Some(v.clamp(self.min.unwrap_or(0) as f64, self.max.unwrap_or(i64::MAX) as f64));
            }
        }
        self.max.map(|m| m as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two halves merged answer what one histogram of everything answers,
    /// below the exact limit and past it.
    #[test]
    fn merged_halves_equal_the_whole() {
        for n in [10i64, 3_000, 20_000] {
            let (mut whole, mut a, mut b) = (Histogram::default(), Histogram::default(), Histogram::default());
            for i in 0..n {
                let v = (i * 7_919) % 5_003 * 1_000;
                whole.record(v);
                if i % 3 == 0 {
                    a.record(v)
                } else {
                    b.record(v)
                }
            }
            a.merge(&b);
            assert_eq!(a.count(), whole.count());
            assert_eq!((a.min(), a.max(), a.mean()), (whole.min(), whole.max(), whole.mean()));
            for p in [1.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
                assert_eq!(a.percentile(p), whole.percentile(p), "n {n} p{p}");
            }
            assert_eq!(a.by_decade(), whole.by_decade());
        }
    }

    #[test]
    fn exact_nearest_rank_for_small_counts() {
        let mut h = Histogram::default();
        for v in [15, 20, 35, 40, 50] {
            h.record(v);
        }
        // The textbook nearest-rank example.
        assert_eq!(h.percentile(5.0), Some(15.0));
        assert_eq!(h.percentile(30.0), Some(20.0));
        assert_eq!(h.percentile(40.0), Some(20.0));
        assert_eq!(h.percentile(50.0), Some(35.0));
        assert_eq!(h.percentile(100.0), Some(50.0));
        assert_eq!((h.min(), h.max(), h.mean()), (Some(15), Some(50), Some(32.0)));
        assert_eq!(Histogram::default().percentile(50.0), None);
    }

    #[test]
    fn buckets_stay_within_one_percent() {
        let mut h = Histogram::default();
        // 100,000 samples: 1us .. 100ms, uniform.
        for i in 1..=100_000i64 {
            h.record(i * 1_000);
        }
        for (p, exact) in [(50.0, 50_000_000.0), (90.0, 90_000_000.0), (99.0, 99_000_000.0)] {
            let got = h.percentile(p).unwrap();
            assert!((got - exact).abs() / exact < 0.01, "p{p}: {got} vs {exact}");
        }
        assert_eq!(h.percentile(100.0), Some(100_000_000.0));
        assert!(h.buckets.len() < 2_000, "memory is bounded by the value range, not the count");
    }

    #[test]
    fn bucket_round_trip() {
        for v in [0u64, 1, 127, 128, 129, 1000, 1 << 20, u64::from(u32::MAX), 1 << 62] {
            let mid = bucket_value(bucket_of(v));
            assert!((mid - v as f64).abs() <= (v as f64 / 128.0).max(0.5), "{v} -> {mid}");
        }
    }
}
