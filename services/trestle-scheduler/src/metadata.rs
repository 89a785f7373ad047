//! [`FinishedBeyond`]: the finished offsets above a partition's watermark, as a short string for
//! Kafka commit metadata (format `f1`, documented on the type).

use crate::error::Error;

/// The format tag. NEVER CHANGE its meaning: commits already in Kafka are read with it. A new
/// format gets a new tag, and `decode` keeps reading this one.
const TAG_V1: &str = "f1";

/// Most offsets [`FinishedBeyond::decode`] returns; the tail beyond it is dropped (redone).
pub const MAX_DECODED_OFFSETS: usize = 1 << 20;

/// Finished offsets above a partition's committable offset (its watermark), and their encoding
/// as Kafka commit metadata.
///
/// # Format `f1`
///
/// `f1:<watermark>` followed, if any offset is finished beyond it, by `:` and comma-separated
/// runs of consecutive finished offsets. A run is `<gap>` (one offset) or `<gap>+<length>`
/// (`length` ≥ 2 offsets), where `gap` is the distance from the previous run's last offset — for
/// the first run, from the watermark — to the run's first offset. All numbers are decimal.
///
/// Example: watermark 100, finished 103, 104, 105 and 110 → `f1:100:3+3,5`.
///
/// The empty string means "nothing known" (Kafka's default metadata).
///
/// # Size bound
///
/// [`encode`](Self::encode) keeps whole runs from the watermark up while they fit in `max_bytes`
/// and drops the rest. Dropping is safe: a finished offset that is forgotten is only redone after
/// a restart, while an offset wrongly remembered as finished would be skipped and lost. For the
/// same reason [`decode`](Self::decode) stops after [`MAX_DECODED_OFFSETS`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FinishedBeyond {
    /// The committable offset the set was taken at (itself unfinished).
    pub watermark: i64,
    /// Finished offsets, ascending, all above `watermark`.
    pub offsets: Vec<i64>,
}

impl FinishedBeyond {
    /// Encodes in the `f1` format (see [`FinishedBeyond`]), at most `max_bytes` long:
    /// runs that do not fit are dropped from the tail; if not even the watermark fits, the
    /// result is empty. Offsets not above the watermark are ignored; order does not matter.
    pub fn encode(&self, max_bytes: usize) -> String {
        use std::fmt::Write as _;

        let mut offsets: Vec<i64> = self
            .offsets
            .iter()
            .copied()
            .filter(|&o| o > self.watermark)
            .collect();
        offsets.sort_unstable();
        offsets.dedup();

        let mut out = format!("{TAG_V1}:{}", self.watermark);
        if out.len() > max_bytes {
            return String::new();
        }
        let mut prev = self.watermark;
        let mut piece = String::new();
        let mut i = 0;
        while i < offsets.len() {
            let start = offsets[i];
            let mut end = start;
            while i + 1 < offsets.len() && offsets[i + 1] == end + 1 {
                i += 1;
                end += 1;
            }
            i += 1;
            piece.clear();
            piece.push(if prev == self.watermark { ':' } else { ',' });
            let _ = write!(piece, "{}", start - prev);
            if end > start {
                let _ = write!(piece, "+{}", end - start + 1);
            }
            if out.len() + piece.len() > max_bytes {
                break;
            }
            out.push_str(&piece);
            prev = end;
        }
        out
    }

    /// Decodes what [`encode`](Self::encode) produced. `Ok(None)` for the empty string (no
    /// metadata was stored). Keeps at most [`MAX_DECODED_OFFSETS`] offsets.
    pub fn decode(metadata: &str) -> Result<Option<FinishedBeyond>, Error> {
        if metadata.is_empty() {
            return Ok(None);
        }
        let bad = |reason: &'static str| Error::BadMetadata {
            metadata: metadata.chars().take(64).collect(),
            reason,
        };
        let mut parts = metadata.splitn(3, ':');
        if parts.next() != Some(TAG_V1) {
            return Err(bad("unknown format tag"));
        }
        let watermark: i64 = parts
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| bad("watermark is not a number"))?;
        let mut offsets = Vec::new();
        let mut prev = watermark;
        for run in parts.next().into_iter().flat_map(|runs| runs.split(',')) {
            let (gap, len) = match run.split_once('+') {
                Some((gap, len)) => (gap, len.parse::<i64>().ok().filter(|&n| n >= 2)),
                None => (run, Some(1)),
            };
            let gap = gap.parse::<i64>().ok().filter(|&g| g >= 1);
            let (Some(gap), Some(len)) = (gap, len) else {
                return Err(bad("a run is not <gap> or <gap>+<length>"));
            };
            let start = prev
                .checked_add(gap)
                .ok_or_else(|| bad("offset overflow"))?;
            let end = start
                .checked_add(len - 1)
                .ok_or_else(|| bad("offset overflow"))?;
            for offset in start..=end {
                if offsets.len() == MAX_DECODED_OFFSETS {
                    return Ok(Some(FinishedBeyond { watermark, offsets }));
                }
                offsets.push(offset);
            }
            prev = end;
        }
        Ok(Some(FinishedBeyond { watermark, offsets }))
    }
}

#[cfg(test)]
mod tests {
    use super::FinishedBeyond;

    fn set(watermark: i64, offsets: &[i64]) -> FinishedBeyond {
        FinishedBeyond {
            watermark,
            offsets: offsets.to_vec(),
        }
    }

    #[test]
    fn encodes_runs_as_gaps_and_lengths() {
        assert_eq!(set(100, &[103, 104, 105, 110]).encode(100), "f1:100:3+3,5");
        assert_eq!(set(7, &[]).encode(100), "f1:7");
        assert_eq!(set(0, &[1]).encode(100), "f1:0:1");
    }

    #[test]
    fn round_trips() {
        for fb in [
            set(100, &[103, 104, 105, 110]),
            set(0, &[]),
            set(5, &[6, 7, 8, 9, 20, 22, 24, 25]),
        ] {
            assert_eq!(FinishedBeyond::decode(&fb.encode(4000)).unwrap(), Some(fb));
        }
        assert_eq!(FinishedBeyond::decode("").unwrap(), None);
    }

    #[test]
    fn drops_the_tail_when_too_long() {
        let fb = set(1000, &(0..100).map(|i| 1002 + 2 * i).collect::<Vec<_>>());
        let encoded = fb.encode(30);
        assert!(encoded.len() <= 30, "{encoded}");
        let decoded = FinishedBeyond::decode(&encoded).unwrap().unwrap();
        assert!(!decoded.offsets.is_empty());
        assert_eq!(decoded.offsets, fb.offsets[..decoded.offsets.len()]);
        assert_eq!(fb.encode(3), "");
    }

    #[test]
    fn rejects_what_it_did_not_write() {
        for bad in [
            "x", "f2:1", "f1:a", "f1:1:0", "f1:1:2+1", "f1:1:2+", "f1:1:,",
        ] {
            assert!(FinishedBeyond::decode(bad).is_err(), "{bad}");
        }
    }
}
