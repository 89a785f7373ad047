//! Sliding time window of call outcomes, kept in a fixed ring of buckets so memory is bounded.

use tokio::time::Instant;

/// Calls and failures counted over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Tally {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
}

impl Tally {
    /// Failures / calls, 0.0 when there were no calls.
    pub(crate) fn failure_rate(self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            f64::from(self.failures) / f64::from(self.calls)
        }
    }
}

/// One bucket: the outcomes recorded during one `bucket_ms` slice of time.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slice this bucket counts: milliseconds since `origin` divided by `bucket_ms`.
    slice: u64,
    tally: Tally,
}

/// The last `window_ms` of outcomes in `buckets.len()` buckets of `bucket_ms` each.
///
/// Slot `slice % len` holds slice `slice`; a slot still holding an older slice is cleared
/// before reuse, and a total only adds buckets of the last `len` slices. So an outcome counts
/// until its slice is `len` slices old: between `window_ms - bucket_ms` and `window_ms`.
#[derive(Debug)]
pub(crate) struct Window {
    origin: Instant,
    bucket_ms: u64,
    buckets: Vec<Bucket>,
}

impl Window {
    /// An empty window; `buckets` ≥ 1 and `window_ms` ≥ `buckets` (checked by the options).
    pub(crate) fn new(origin: Instant, window_ms: u64, buckets: u32) -> Self {
        let buckets = buckets.max(1);
        Window {
            origin,
            bucket_ms: (window_ms / u64::from(buckets)).max(1),
            buckets: vec![Bucket::default(); buckets as usize],
        }
    }

    /// Counts one call ending at `now`.
    pub(crate) fn record(&mut self, now: Instant, failed: bool) {
        let slice = self.slice(now);
        let len = self.buckets.len() as u64;
        let bucket = &mut self.buckets[(slice % len) as usize];
        if bucket.slice != slice {
            *bucket = Bucket {
                slice,
                tally: Tally::default(),
            };
        }
        bucket.tally.calls = bucket.tally.calls.saturating_add(1);
        if failed {
            bucket.tally.failures = bucket.tally.failures.saturating_add(1);
        }
    }

    /// Calls and failures recorded in the window ending at `now`.
    pub(crate) fn tally(&self, now: Instant) -> Tally {
        let current = self.slice(now);
        let len = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|bucket| bucket.slice <= current && current - bucket.slice < len)
            .fold(Tally::default(), |sum, bucket| Tally {
                calls: sum.calls.saturating_add(bucket.tally.calls),
                failures: sum.failures.saturating_add(bucket.tally.failures),
            })
    }

    /// Forgets every outcome.
    pub(crate) fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
    }

    fn slice(&self, now: Instant) -> u64 {
        let elapsed_ms = now.saturating_duration_since(self.origin).as_millis();
        u64::try_from(elapsed_ms / u128::from(self.bucket_ms)).unwrap_or(u64::MAX)
    }
}
