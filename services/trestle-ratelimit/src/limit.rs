//! What callers pass and get back: a [`Limit`], and the [`Decision`] with its [`Source`].

/// The default burst as a fraction of a minute's worth of requests.
pub const DEFAULT_BURST_FRACTION: f64 = 1.0 / 6.0;

/// `retry_after_ms` of a [`Decision::Limited`] that waiting cannot turn into an allow: the limit
/// allows nothing (`per_minute` or `burst` is 0), or `check_n` asked for more than the burst.
pub const RETRY_NEVER_MS: u64 = u64::MAX;

/// A rate limit: a sustained `per_minute` rate, and up to `burst` requests at one instant.
///
/// Over any window of `w` minutes a company gets at most `burst + w × per_minute` requests
/// (rounded down); requests spaced at least one interval (`60 s / per_minute`) apart are never
/// limited. `per_minute == 0` or `burst == 0` allows nothing (a temporary throttle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at one instant after the company has been idle.
    pub burst: u32,
}

impl Limit {
    /// A limit with an explicit burst (per-company overrides).
    pub const fn new(per_minute: u32, burst: u32) -> Limit {
        Limit { per_minute, burst }
    }

    /// A limit whose burst is `per_minute × burst_fraction`, rounded to the nearest integer and
    /// at least 1 (0 when `per_minute` is 0).
    pub fn with_burst_fraction(per_minute: u32, burst_fraction: f64) -> Limit {
        let burst = if per_minute == 0 {
            0
        } else {
            // Saturating float-to-int cast; rounding (not flooring) keeps 30 × 1/6 at 5, not 4.
            ((f64::from(per_minute) * burst_fraction).round() as u32).max(1)
        };
        Limit { per_minute, burst }
    }
}

/// Which store decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The shared Redis script: the limit holds across all engine instances.
    Redis,
    /// This instance's own GCRA with its share of the limit, because Redis did not answer.
    LocalFallback,
}

impl Source {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Redis => "redis",
            Source::LocalFallback => "local_fallback",
        }
    }
}

/// The answer for one request (or one batch of `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; `remaining` more requests would be allowed right now.
    Allowed { remaining: u32, source: Source },
    /// Not now; the same request would be allowed after `retry_after_ms` (if nothing else is
    /// allowed meanwhile), or never when it is [`RETRY_NEVER_MS`].
    Limited { retry_after_ms: u64, source: Source },
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// Which store decided.
    pub fn source(&self) -> Source {
        match *self {
            Decision::Allowed { source, .. } | Decision::Limited { source, .. } => source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trestle_tiers::Tier;

    #[test]
    fn default_bursts_are_a_sixth_of_a_minute() {
        let table = trestle_tiers::TierTable::default();
        let bursts: Vec<(Tier, u32)> = Tier::ALL
            .into_iter()
            .map(|t| {
                let per_minute = table.get(t).requests_per_minute;
                (
                    t,
                    Limit::with_burst_fraction(per_minute, DEFAULT_BURST_FRACTION).burst,
                )
            })
            .collect();
        assert_eq!(
            bursts,
            [
                (Tier::Starter, 2),
                (Tier::Professional, 5),
                (Tier::Premium, 10),
                (Tier::Enterprise, 20)
            ]
        );
    }

    #[test]
    fn burst_is_at_least_one_unless_the_rate_is_zero() {
        assert_eq!(Limit::with_burst_fraction(1, 0.01).burst, 1);
        assert_eq!(Limit::with_burst_fraction(0, 0.5).burst, 0);
    }
}
