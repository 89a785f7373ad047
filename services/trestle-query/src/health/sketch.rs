//! DDSketch: a mergeable quantile sketch with a relative-error guarantee, used for the latency
//! percentiles of shard health (one sketch per shard and minute, merged over a window).
//!
//! A positive value `x` falls in bucket `k = ceil(log_γ x)` with `γ = (1 + α) / (1 − α)`, i.e.
//! the bucket `(γ^(k−1), γ^k]`, and is read back as `2γ^k / (γ + 1)`, which is within a
//! factor `1 ± α` of every value of the bucket. So the value returned for a quantile is within
//! relative error `α` of the exact sample at that rank (Masson, Rim, Lee: "DDSketch", VLDB
//! 2019). Zero (and anything at or below [`MIN_INDEXABLE`]) has a bucket of its own.
//!
//! The sketch is a map from bucket key to count, so merging is adding counts. At most
//! `max_bins` buckets are kept: beyond that the lowest buckets are folded into the lowest kept
//! one (losing accuracy only for the lowest quantiles, never for p50/p99 unless the data spans
//! more than `γ^max_bins`, about 10^17 at α = 1 %). Folding "everything below the
//! `max_bins`-th highest key into that key" gives the same result however the data was split
//! and merged, so `merge(a, b)` equals the sketch of the union, exactly.
//!
//! We wrote it instead of using the `sketches-ddsketch` crate because the encoding stored in
//! Postgres must be ours to keep stable (the crate's serde form is its internal dense layout,
//! which changed between releases), and because that crate's collapse depends on the order
//! values arrived in, so a merge is not always equal to the sketch of the union.

use std::collections::BTreeMap;

/// Relative accuracy of the stored latency sketches: 1 %.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Most buckets a stored latency sketch keeps. At 1 % it covers 1 ms to far beyond a day
/// without folding anything.
pub const MAX_BINS: u32 = 2048;
/// Values at or below this count as zero.
pub const MIN_INDEXABLE: f64 = 1e-9;

/// Encoding version byte. NEVER CHANGE the meaning of version 1: sketches stored in
/// `shard_health_minutes.latency_sketch` are decoded with it.
const VERSION: u8 = 1;

/// A stored sketch could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid latency sketch encoding: {0}")]
pub struct SketchDecodeError(&'static str);

/// Two sketches with different parameters cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot merge sketches with different relative accuracy or bucket limit")]
pub struct SketchMismatch;

/// A DDSketch of non-negative values (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    alpha: f64,
    ln_gamma: f64,
    max_bins: u32,
    bins: BTreeMap<i32, u64>,
    zero_count: u64,
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new(RELATIVE_ACCURACY, MAX_BINS)
    }
}

impl Sketch {
    /// An empty sketch with relative accuracy `alpha` (0 < α < 1) keeping at most `max_bins`
    /// buckets (at least 1).
    pub fn new(alpha: f64, max_bins: u32) -> Sketch {
        assert!(
            alpha > 0.0 && alpha < 1.0,
            "relative accuracy must be in (0, 1)"
        );
        assert!(max_bins >= 1, "a sketch needs at least one bucket");
        Sketch {
            alpha,
            ln_gamma: ((1.0 + alpha) / (1.0 - alpha)).ln(),
            max_bins,
            bins: BTreeMap::new(),
            zero_count: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }

    /// Adds a value. Negative values count as zero; NaN and infinities are ignored.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let value = value.max(0.0);
        if value <= MIN_INDEXABLE {
            self.zero_count += 1;
        } else {
            *self.bins.entry(self.key(value)).or_insert(0) += 1;
            self.collapse();
        }
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
    }

    /// Adds every bucket of `other` (same parameters) to this sketch.
    pub fn merge(&mut self, other: &Sketch) -> Result<(), SketchMismatch> {
        if self.alpha != other.alpha || self.max_bins != other.max_bins {
            return Err(SketchMismatch);
        }
        for (&k, &c) in &other.bins {
            *self.bins.entry(k).or_insert(0) += c;
        }
        self.collapse();
        self.zero_count += other.zero_count;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        Ok(())
    }

    /// The value at quantile `q` (0 ≤ q ≤ 1): within relative accuracy of the exact sample of
    /// rank `floor(q · (count − 1))` in sorted order. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * (self.count - 1) as f64;
        let mut seen = self.zero_count;
        if seen as f64 > rank {
            return Some(self.min.max(0.0));
        }
        for (&k, &c) in &self.bins {
            seen += c;
            if seen as f64 > rank {
                return Some(self.value(k).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the values added (exact for integers below 2^53).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Number of non-empty buckets (at most `max_bins`).
    pub fn bins(&self) -> usize {
        self.bins.len()
    }

    fn key(&self, value: f64) -> i32 {
        (value.ln() / self.ln_gamma).ceil() as i32
    }

    fn value(&self, key: i32) -> f64 {
        let gamma = self.ln_gamma.exp();
        2.0 * (key as f64 * self.ln_gamma).exp() / (gamma + 1.0)
    }

    /// Folds the lowest buckets into the lowest kept one until at most `max_bins` remain.
    fn collapse(&mut self) {
        while self.bins.len() > self.max_bins as usize {
            let (_, folded) = self.bins.pop_first().expect("more than one bucket");
            *self
                .bins
                .first_entry()
                .expect("more than one bucket")
                .get_mut() += folded;
        }
    }

    /// Compact binary form, stored in Postgres. Version 1 layout (NEVER CHANGE it; add a
    /// version instead): `01`, α as f64 LE, max_bins as u32 LE, zero count (varint), min, max,
    /// sum (f64 LE each), bucket count (varint), then per bucket in key order the key as a
    /// zigzag varint (the first absolute, the rest as the difference from the previous) and the
    /// count as a varint. The total count is the sum of the counts.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.bins.len() * 3);
        out.push(VERSION);
        out.extend_from_slice(&self.alpha.to_le_bytes());
        out.extend_from_slice(&self.max_bins.to_le_bytes());
        put_varint(&mut out, self.zero_count);
        for f in [self.min, self.max, self.sum] {
            out.extend_from_slice(&f.to_le_bytes());
        }
        put_varint(&mut out, self.bins.len() as u64);
        let mut previous = 0i64;
        for (&k, &c) in &self.bins {
            let delta = i64::from(k) - previous;
            put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
            put_varint(&mut out, c);
            previous = i64::from(k);
        }
        out
    }

    /// Reads [`Sketch::encode`]'s form back, checking it is well formed.
    pub fn decode(bytes: &[u8]) -> Result<Sketch, SketchDecodeError> {
        let mut r = Reader(bytes);
        if r.take(1)?[0] != VERSION {
            return Err(SketchDecodeError("unknown version"));
        }
        let alpha = r.f64()?;
        let max_bins = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
        if !(alpha > 0.0 && alpha < 1.0) || max_bins == 0 {
            return Err(SketchDecodeError("bad parameters"));
        }
        let mut sketch = Sketch::new(alpha, max_bins);
        sketch.zero_count = r.varint()?;
        sketch.min = r.f64()?;
        sketch.max = r.f64()?;
        sketch.sum = r.f64()?;
        let n = r.varint()?;
        if n > u64::from(max_bins) {
            return Err(SketchDecodeError("more buckets than the limit"));
        }
        let mut key = 0i64;
        let mut count = sketch.zero_count;
        for i in 0..n {
            let z = r.varint()?;
            let delta = (z >> 1) as i64 ^ -((z & 1) as i64);
            if i > 0 && delta <= 0 {
                return Err(SketchDecodeError("bucket keys not increasing"));
            }
            key = key
                .checked_add(delta)
                .filter(|k| i32::try_from(*k).is_ok())
                .ok_or(SketchDecodeError("bucket key out of range"))?;
            let c = r.varint()?;
            if c == 0 {
                return Err(SketchDecodeError("empty bucket"));
            }
            count = count
                .checked_add(c)
                .ok_or(SketchDecodeError("count overflows"))?;
            sketch.bins.insert(key as i32, c);
        }
        if !r.0.is_empty() {
            return Err(SketchDecodeError("trailing bytes"));
        }
        let ordered = matches!(
            sketch.min.partial_cmp(&sketch.max),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        );
        if count > 0 && !ordered {
            return Err(SketchDecodeError("minimum above maximum"));
        }
        sketch.count = count;
        Ok(sketch)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SketchDecodeError> {
        if self.0.len() < n {
            return Err(SketchDecodeError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn f64(&mut self) -> Result<f64, SketchDecodeError> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn varint(&mut self) -> Result<u64, SketchDecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SketchDecodeError("varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact sample the sketch's quantile approximates.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    fn sketch_of(values: &[f64]) -> Sketch {
        let mut s = Sketch::default();
        values.iter().for_each(|v| s.add(*v));
        s
    }

    /// Heavy-tailed latencies (Pareto-like, 1 ms to minutes) from a fixed seed.
    fn skewed(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|_| {
                (20.0 / (1.0 - rng.f64()).powf(1.0 / 1.2))
                    .round()
                    .min(600_000.0)
            })
            .collect()
    }

    fn assert_within_guarantee(sketch: &Sketch, values: &[f64], quantiles: &[f64]) {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for &q in quantiles {
            let want = exact(&sorted, q);
            let got = sketch.quantile(q).unwrap();
            assert!(
                (got - want).abs() <= RELATIVE_ACCURACY * want + 1e-9,
                "q{q}: sketch {got}, exact {want}"
            );
        }
    }

    #[test]
    fn quantiles_stay_within_relative_accuracy_on_skewed_data() {
        let values = skewed(50_000, 7);
        let sketch = sketch_of(&values);
        assert_eq!(sketch.count(), 50_000);
        let qs: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).chain([0.999]).collect();
        assert_within_guarantee(&sketch, &values, &qs);
    }

    #[test]
    fn zeros_and_single_values_are_exact() {
        let sketch = sketch_of(&[0.0, 0.0, 0.0, 250.0]);
        assert_eq!(sketch.quantile(0.5), Some(0.0));
        assert_eq!(
            sketch.quantile(1.0),
            Some(250.0),
            "clamped to the exact maximum"
        );
        assert_eq!(sketch_of(&[-5.0]).quantile(0.5), Some(0.0));
        assert_eq!(Sketch::default().quantile(0.5), None);
    }

    #[test]
    fn merge_equals_the_sketch_of_the_union() {
        let (a, b) = (skewed(10_000, 1), skewed(7_000, 2));
        let mut merged = sketch_of(&a);
        merged.merge(&sketch_of(&b)).unwrap();
        let union: Vec<f64> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, sketch_of(&union));
        // Also when the bucket limit folds the lowest buckets.
        let small = |values: &[f64]| {
            let mut s = Sketch::new(RELATIVE_ACCURACY, 64);
            values.iter().for_each(|v| s.add(*v));
            s
        };
        let mut merged = small(&a);
        merged.merge(&small(&b)).unwrap();
        assert_eq!(merged, small(&union));
        assert!(Sketch::new(0.02, 64).merge(&small(&a)).is_err());
    }

    #[test]
    fn bucket_count_is_bounded_and_high_quantiles_survive_folding() {
        let values: Vec<f64> = (0..100_000).map(|i| 1e-6 * 1.001f64.powi(i)).collect();
        let mut sketch = Sketch::new(RELATIVE_ACCURACY, 256);
        values.iter().for_each(|v| sketch.add(*v));
        assert_eq!(sketch.bins(), 256);
        assert_eq!(sketch.count(), values.len() as u64);
        assert_within_guarantee(&sketch, &values, &[0.99, 0.999, 1.0]);
        // Default parameters: a realistic latency range never needs folding.
        let latencies = skewed(100_000, 3);
        assert!(sketch_of(&latencies).bins() < MAX_BINS as usize / 2);
    }

    #[test]
    fn encoding_round_trips_and_is_compact() {
        let values = skewed(20_000, 4);
        let sketch = sketch_of(&values);
        let bytes = sketch.encode();
        assert_eq!(Sketch::decode(&bytes).unwrap(), sketch);
        assert!(
            bytes.len() < 40 + 4 * sketch.bins(),
            "{} bytes",
            bytes.len()
        );
        assert_eq!(
            Sketch::decode(&Sketch::default().encode()).unwrap(),
            Sketch::default()
        );
        let mut folded = Sketch::new(0.05, 3);
        [0.0, 1.0, 10.0, 100.0, 1000.0]
            .iter()
            .for_each(|v| folded.add(*v));
        assert_eq!(Sketch::decode(&folded.encode()).unwrap(), folded);
    }

    #[test]
    fn malformed_encodings_are_refused() {
        let bytes = sketch_of(&[1.0, 2.0, 3.0]).encode();
        assert!(Sketch::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Sketch::decode(&trailing).is_err());
        let mut version = bytes;
        version[0] = 2;
        assert!(Sketch::decode(&version).is_err());
        assert!(Sketch::decode(&[]).is_err());
    }
}
