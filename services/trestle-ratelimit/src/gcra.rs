//! The GCRA step: the local fallback runs it, and the Redis script `gcra.lua` mirrors it.
//!
//! State is one number per company, the theoretical arrival time (TAT) in microseconds: when the
//! company would next be "on schedule" if every request it was granted had come exactly one
//! interval apart. See the crate docs for the algorithm in words.

use crate::limit::Limit;

/// Microseconds in a minute.
const MINUTE_US: u64 = 60_000_000;

/// A [`Limit`] in GCRA terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// One request per this many microseconds; 0 means the limit allows nothing.
    pub(crate) interval_us: u64,
    /// Requests allowed at one instant from a full allowance; 0 means nothing.
    pub(crate) burst: u32,
}

impl Params {
    /// The interval is rounded up, so a limit never allows more than it says.
    pub(crate) fn from_limit(limit: Limit) -> Params {
        let interval_us = match limit.per_minute {
            0 => 0,
            per_minute => MINUTE_US.div_ceil(u64::from(per_minute)),
        };
        Params {
            interval_us,
            burst: limit.burst,
        }
    }

    /// One instance's share when `instances` share the limit without talking to each other: the
    /// rate divided exactly, the burst divided and rounded down but kept at least 1 (so a small
    /// limit still lets each instance serve something).
    pub(crate) fn share(self, instances: u32) -> Params {
        if instances <= 1 || self.allows_nothing() {
            return self;
        }
        Params {
            interval_us: self.interval_us.saturating_mul(u64::from(instances)),
            burst: (self.burst / instances).max(1),
        }
    }

    fn allows_nothing(self) -> bool {
        self.interval_us == 0 || self.burst == 0
    }
}

/// What one step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Allowed; `remaining` more requests would be allowed at this instant.
    Allowed { remaining: u32 },
    /// Limited; `None` when waiting cannot help (the limit allows nothing, or n > burst).
    Limited { retry_after_us: Option<u64> },
}

/// Decides a request of cost `n` at `now_us` given the stored TAT, and returns the TAT to store
/// (`None`: leave the state as it is).
pub(crate) fn step(
    params: Params,
    tat: Option<u64>,
    now_us: u64,
    n: u32,
) -> (Verdict, Option<u64>) {
    if params.allows_nothing() || n > params.burst {
        return (
            Verdict::Limited {
                retry_after_us: None,
            },
            None,
        );
    }
    let tat = tat.unwrap_or(now_us).max(now_us);
    let tolerance = params.interval_us.saturating_mul(u64::from(params.burst));
    let new_tat = tat.saturating_add(params.interval_us.saturating_mul(u64::from(n)));
    let allow_at = new_tat.saturating_sub(tolerance);
    if allow_at > now_us {
        let verdict = Verdict::Limited {
            retry_after_us: Some(allow_at - now_us),
        };
        return (verdict, None);
    }
    let remaining = (tolerance - (new_tat - now_us)) / params.interval_us;
    let verdict = Verdict::Allowed {
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
    };
    (verdict, (n > 0).then_some(new_tat))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params {
        interval_us: 100_000,
        burst: 3,
    };

    /// Runs requests of cost 1 at the given instants from a fresh state.
    fn check(params: Params, instants_us: &[u64], expected: &[Verdict]) {
        let mut tat = None;
        let got: Vec<Verdict> = instants_us
            .iter()
            .map(|&now| {
                let (verdict, new_tat) = step(params, tat, now, 1);
                tat = new_tat.or(tat);
                verdict
            })
            .collect();
        assert_eq!(got, expected);
    }

    fn allowed(remaining: u32) -> Verdict {
        Verdict::Allowed { remaining }
    }

    fn limited(us: u64) -> Verdict {
        Verdict::Limited {
            retry_after_us: Some(us),
        }
    }

    #[test]
    fn allows_exactly_the_burst_at_one_instant() {
        check(
            P,
            &[0, 0, 0, 0],
            &[allowed(2), allowed(1), allowed(0), limited(100_000)],
        );
    }

    #[test]
    fn refills_one_request_per_interval() {
        check(
            P,
            &[0, 0, 0, 40_000, 100_000, 100_000],
            &[
                allowed(2),
                allowed(1),
                allowed(0),
                limited(60_000),
                allowed(0),
                limited(100_000),
            ],
        );
    }

    #[test]
    fn caps_the_allowance_at_the_burst_after_idling() {
        check(
            P,
            &[0, 10_000_000, 10_000_000],
            &[allowed(2), allowed(2), allowed(1)],
        );
    }

    #[test]
    fn charges_n_at_once_and_never_allows_more_than_the_burst() {
        let (verdict, tat) = step(P, None, 0, 3);
        assert_eq!(verdict, allowed(0));
        assert_eq!(tat, Some(300_000));
        let (verdict, _) = step(P, None, 0, 4);
        assert_eq!(
            verdict,
            Verdict::Limited {
                retry_after_us: None
            }
        );
    }

    #[test]
    fn looks_without_charging_when_n_is_zero() {
        let (verdict, tat) = step(P, Some(100_000), 0, 0);
        assert_eq!(verdict, allowed(2));
        assert_eq!(tat, None);
    }

    #[test]
    fn a_zero_limit_allows_nothing() {
        for limit in [Limit::new(0, 5), Limit::new(5, 0)] {
            let (verdict, _) = step(Params::from_limit(limit), None, 0, 1);
            assert_eq!(
                verdict,
                Verdict::Limited {
                    retry_after_us: None
                }
            );
        }
    }

    #[test]
    fn rounds_the_interval_up() {
        assert_eq!(Params::from_limit(Limit::new(7, 1)).interval_us, 8_571_429);
        assert_eq!(Params::from_limit(Limit::new(600, 1)).interval_us, 100_000);
    }

    #[test]
    fn divides_rate_and_burst_among_instances() {
        let p = Params::from_limit(Limit::new(60, 10));
        assert_eq!(
            p.share(2),
            Params {
                interval_us: 2_000_000,
                burst: 5
            }
        );
        assert_eq!(p.share(20).burst, 1);
        assert_eq!(p.share(1), p);
    }
}
