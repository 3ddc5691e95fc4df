//! A log-linear histogram of `u64` values (nanoseconds here), in the spirit of HdrHistogram.
//!
//! Written here rather than taken from the `hdrhistogram` crate because what the load generator
//! needs is tiny: recording is a leading-zero count, a shift and an increment (no bounds set up
//! front, no error path, no allocation after creation), merging per-thread histograms is adding two
//! arrays, and the fixed 7,424 buckets (58 KiB) cover every `u64`. The relative error is below
//! 1/256 (0.4 %), more precise than a loopback latency is repeatable; min and max are exact.

/// Linear sub-buckets per power of two: 2^SUB_BITS.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values below 2^SUB_BITS get a bucket each; every octave above gets `SUB` buckets.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Counts of values, by bucket.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    min: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn index_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let m = v >> (e - SUB_BITS); // in [SUB, 2*SUB)
    ((e - SUB_BITS + 1) as usize) * SUB as usize + (m - SUB) as usize
}

/// The middle of bucket `index` (its lowest value for the exact buckets).
fn value_of(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let octave = index / SUB - 1; // e - SUB_BITS
    let m = SUB + index % SUB;
    let low = m << octave;
    let width = 1u64 << octave;
    low + width / 2
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[index_of(v)] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += *b;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Largest value recorded (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest value recorded (exact), 0 when empty.
    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    /// The value at quantile `q` (0..=1): the smallest bucket holding at least `q` of the values,
    /// clamped to the exact min and max. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let target = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= target {
                return value_of(index).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact_and_large_ones_within_half_a_percent() {
        for v in [0u64, 1, 5, 127, 128, 129, 1000, 65_537, 1 << 40, u64::MAX] {
            let got = value_of(index_of(v));
            let err = got.abs_diff(v) as f64 / (v.max(1)) as f64;
            assert!(err <= 1.0 / 256.0, "{v} -> {got}");
        }
        assert!(index_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_of_a_uniform_run() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.005, "{p50}");
        assert_eq!(h.quantile(1.0), 100_000);
        assert_eq!(h.quantile(0.0), 1);
        let mut other = Histogram::new();
        other.record(1_000_000);
        h.merge(&other);
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.len(), 100_001);
    }
}
