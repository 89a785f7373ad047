//! The noisy-neighbour ladder and the provider chain as a pure decision: from what the rate
//! limiter, the cache, the degrade allowance, the monthly budget and the provider steps have
//! answered so far ([`Facts`]), the next thing to do ([`Action`]). No I/O here; `serve.rs`
//! carries out each action and records its answer.
//!
//! ```text
//! rate limit (per company, by tier)
//!   allowed ───────────────────────────────────────────────▶ provider chain
//!   limited: wait in the company's queue if the wait is short (≤ max_queue_wait_ms)
//!   queue overflow ─▶ cached answer?        yes ─▶ served from cache
//!                   ─▶ degrade allowance?    yes ─▶ reserve, call the cheaper step (degraded)
//!                   ─▶ throttled (rate_limit, retry-after)
//! provider chain: reserve the first step's estimate; each step in order (its breaker may
//!   refuse it); the first answer wins (degraded when it is not the first step)
//! every step failed or open ─▶ cached answer, limited notice ─▶ failed naming every provider
//! a refused reservation (monthly limit) ─▶ throttled (cost_limit)
//! ```

use trestle_ratelimit::{Limit, RETRY_NEVER_MS};

use crate::chains::{Chain, Step};

/// What the ladder does for a request, given its company's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    /// The company's rate limit; `None`: no rate limit (and so no ladder) applies.
    pub rate_limit: Option<Limit>,
    /// Longest total wait in the company's queue before it overflows.
    pub max_queue_wait_ms: u64,
    /// The degrade allowance over the limit; `None`: degrading is off.
    pub degrade_allowance: Option<Limit>,
}

impl Policy {
    /// The policy for a company limited to `rate_limit` (if any): the degrade allowance is
    /// `degrade_fraction` of its rate, with the same burst fraction.
    pub(crate) fn new(
        rate_limit: Option<Limit>,
        max_queue_wait_ms: u64,
        degrade_fraction: f64,
    ) -> Policy {
        let degrade_allowance = rate_limit
            .map(|limit| {
                Limit::with_burst_fraction(
                    (f64::from(limit.per_minute) * degrade_fraction).floor() as u32,
                    f64::from(limit.burst) / f64::from(limit.per_minute.max(1)),
                )
            })
            .filter(|allowance| allowance.per_minute > 0);
        Policy {
            rate_limit,
            max_queue_wait_ms,
            degrade_allowance,
        }
    }
}

/// The rate limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    Allowed,
    /// Allowed again after `retry_after_ms` ([`RETRY_NEVER_MS`]: never).
    Limited {
        retry_after_ms: u64,
    },
}

/// What has been answered so far for one request; `None`: not asked (yet).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Facts {
    /// The rate limiter's latest answer (cleared by a wait, so it is asked again).
    pub rate: Option<Rate>,
    /// Time waited in the company's queue so far.
    pub waited_ms: u64,
    /// Whether a cached answer exists.
    pub cached: Option<bool>,
    /// Whether the degrade allowance admitted the request.
    pub allowance: Option<bool>,
    /// Whether the monthly budget granted the reservation.
    pub reserved: Option<bool>,
    /// Why each provider step called so far did not answer, in order.
    pub failures: Vec<String>,
    /// How many of those steps were refused by a daily provider quota alone (every project of
    /// the company's at its quota).
    pub quota_refused: usize,
    /// Whether the last provider step called answered.
    pub answered: bool,
}

impl Facts {
    /// A wait in the company's queue is over: the rate limiter is asked again.
    pub(crate) fn waited(&mut self, ms: u64) {
        self.waited_ms += ms;
        self.rate = None;
    }
}

/// The next thing to do for a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action<'c> {
    /// Ask the company's rate limiter.
    CheckRate,
    /// Wait in the company's queue this long, then ask again.
    Wait { ms: u64 },
    /// Look for a cached answer.
    LookUpCache,
    /// Ask the degrade allowance (a separately keyed limit).
    CheckAllowance(Limit),
    /// Reserve the estimated cost of a call to this step against the monthly limits.
    Reserve(&'c Step),
    /// Call this step behind its circuit breaker.
    Call { step: &'c Step, degraded: bool },
    /// Done: the request's outcome.
    Finish(Verdict),
}

/// How a request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A step of the chain answered.
    Served,
    /// Over the rate limit, the degrade step answered.
    Degraded,
    /// The cached answer; `limited_notice` when every provider was down.
    FromCache { limited_notice: bool },
    /// Over the rate `limit` with no other way.
    Throttled { limit: Limit, retry_after_ms: u64 },
    /// The monthly budget refused the reservation.
    OverBudget,
    /// Every step was refused by its cloud projects' daily provider quotas, nothing cached.
    OverQuota,
    /// Every step failed or was open and nothing is cached.
    AllDown,
}

/// The next action for a request of `chain` under `policy`, given `facts`.
pub(crate) fn decide<'c>(facts: &Facts, chain: &'c Chain, policy: &Policy) -> Action<'c> {
    if let Some(limit) = policy.rate_limit {
        match facts.rate {
            None => return Action::CheckRate,
            Some(Rate::Allowed) => {}
            Some(Rate::Limited { retry_after_ms }) => {
                let left = policy.max_queue_wait_ms.saturating_sub(facts.waited_ms);
                if retry_after_ms != RETRY_NEVER_MS && retry_after_ms <= left {
                    return Action::Wait {
                        ms: retry_after_ms.max(1),
                    };
                }
                return over_the_limit(facts, chain, policy, limit, retry_after_ms);
            }
        }
    }
    down_the_chain(facts, chain)
}

/// Ladder steps 2–4, for a request whose company's queue overflowed.
fn over_the_limit<'c>(
    facts: &Facts,
    chain: &'c Chain,
    policy: &Policy,
    limit: Limit,
    retry_after_ms: u64,
) -> Action<'c> {
    let throttled = Action::Finish(Verdict::Throttled {
        limit,
        retry_after_ms,
    });
    match facts.cached {
        None => return Action::LookUpCache,
        Some(true) => {
            return Action::Finish(Verdict::FromCache {
                limited_notice: false,
            })
        }
        Some(false) => {}
    }
    let (Some(step), Some(allowance)) = (&chain.degrade_to, policy.degrade_allowance) else {
        return throttled;
    };
    match facts.allowance {
        None => return Action::CheckAllowance(allowance),
        Some(false) => return throttled,
        Some(true) => {}
    }
    match facts.reserved {
        None => Action::Reserve(step),
        Some(false) => Action::Finish(Verdict::OverBudget),
        Some(true) if facts.answered => Action::Finish(Verdict::Degraded),
        Some(true) if facts.failures.is_empty() => Action::Call {
            step,
            degraded: true,
        },
        Some(true) => throttled,
    }
}

/// The provider chain: each step in order until one answers, then the all-down fallback.
fn down_the_chain<'c>(facts: &Facts, chain: &'c Chain) -> Action<'c> {
    match facts.reserved {
        None => return Action::Reserve(&chain.steps[0]),
        Some(false) => return Action::Finish(Verdict::OverBudget),
        Some(true) => {}
    }
    if facts.answered {
        return Action::Finish(Verdict::Served);
    }
    let index = facts.failures.len();
    if let Some(step) = chain.steps.get(index) {
        return Action::Call {
            step,
            degraded: index > 0,
        };
    }
    match facts.cached {
        None => Action::LookUpCache,
        Some(true) => Action::Finish(Verdict::FromCache {
            limited_notice: true,
        }),
        Some(false) if facts.quota_refused == facts.failures.len() => {
            Action::Finish(Verdict::OverQuota)
        }
        Some(false) => Action::Finish(Verdict::AllDown),
    }
}

#[cfg(test)]
mod tests {
    use trestle_events::Meter;

    use super::*;

    fn step(provider: &str) -> Step {
        Step {
            provider: provider.into(),
            model: format!("{provider}-model"),
            meter: Meter::GeminiFlashQueries,
        }
    }

    fn chain(degrade: bool) -> Chain {
        Chain {
            steps: vec![step("first"), step("second")],
            degrade_to: degrade.then(|| step("cheap")),
        }
    }

    fn limited() -> Policy {
        Policy::new(Some(Limit::with_burst_fraction(60, 0.5)), 2000, 0.5)
    }

    fn unlimited() -> Policy {
        Policy::new(None, 2000, 0.5)
    }

    fn overflowed(retry_after_ms: u64) -> Facts {
        Facts {
            rate: Some(Rate::Limited { retry_after_ms }),
            ..Facts::default()
        }
    }

    #[test]
    fn without_a_rate_limit_the_first_step_is_reserved_then_called() {
        let chain = chain(true);
        let mut facts = Facts::default();
        assert_eq!(
            decide(&facts, &chain, &unlimited()),
            Action::Reserve(&chain.steps[0])
        );
        facts.reserved = Some(true);
        assert_eq!(
            decide(&facts, &chain, &unlimited()),
            Action::Call {
                step: &chain.steps[0],
                degraded: false
            }
        );
        facts.answered = true;
        assert_eq!(
            decide(&facts, &chain, &unlimited()),
            Action::Finish(Verdict::Served)
        );
    }

    #[test]
    fn a_rate_limited_company_is_asked_first_and_goes_ahead_when_allowed() {
        let chain = chain(true);
        let mut facts = Facts::default();
        assert_eq!(decide(&facts, &chain, &limited()), Action::CheckRate);
        facts.rate = Some(Rate::Allowed);
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Reserve(&chain.steps[0])
        );
    }

    #[test]
    fn a_short_wait_is_waited_in_the_queue_and_the_limiter_asked_again() {
        let chain = chain(true);
        let mut facts = overflowed(0);
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Wait { ms: 1 },
            "a zero wait still yields"
        );
        facts.rate = Some(Rate::Limited {
            retry_after_ms: 1500,
        });
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Wait { ms: 1500 }
        );
        facts.waited(1500);
        assert_eq!(facts.rate, None);
        assert_eq!(decide(&facts, &chain, &limited()), Action::CheckRate);
        facts.rate = Some(Rate::Limited {
            retry_after_ms: 600,
        });
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::LookUpCache,
            "600 ms more would exceed the 2000 ms queue wait"
        );
    }

    #[test]
    fn a_request_that_can_never_go_overflows_at_once() {
        let chain = chain(true);
        assert_eq!(
            decide(&overflowed(RETRY_NEVER_MS), &chain, &limited()),
            Action::LookUpCache
        );
    }

    #[test]
    fn an_overflowed_request_with_a_cached_answer_is_served_from_cache() {
        let chain = chain(true);
        let facts = Facts {
            cached: Some(true),
            ..overflowed(5000)
        };
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Finish(Verdict::FromCache {
                limited_notice: false
            })
        );
    }

    #[test]
    fn an_overflowed_request_within_the_allowance_is_degraded_to_the_cheaper_step() {
        let chain = chain(true);
        let policy = limited();
        let mut facts = Facts {
            cached: Some(false),
            ..overflowed(5000)
        };
        let allowance = policy.degrade_allowance.unwrap();
        assert_eq!(allowance.per_minute, 30);
        assert_eq!(
            decide(&facts, &chain, &policy),
            Action::CheckAllowance(allowance)
        );
        facts.allowance = Some(true);
        let cheap = chain.degrade_to.as_ref().unwrap();
        assert_eq!(decide(&facts, &chain, &policy), Action::Reserve(cheap));
        facts.reserved = Some(true);
        assert_eq!(
            decide(&facts, &chain, &policy),
            Action::Call {
                step: cheap,
                degraded: true
            }
        );
        facts.answered = true;
        assert_eq!(
            decide(&facts, &chain, &policy),
            Action::Finish(Verdict::Degraded)
        );
    }

    #[test]
    fn an_overflowed_request_is_throttled_when_it_cannot_degrade() {
        let throttled = Action::Finish(Verdict::Throttled {
            limit: limited().rate_limit.unwrap(),
            retry_after_ms: 5000,
        });
        let none_cached = Facts {
            cached: Some(false),
            ..overflowed(5000)
        };
        assert_eq!(
            decide(&none_cached, &chain(false), &limited()),
            throttled,
            "no cheaper step"
        );
        let no_allowance = Policy::new(Some(Limit::with_burst_fraction(60, 0.5)), 2000, 0.0);
        assert_eq!(decide(&none_cached, &chain(true), &no_allowance), throttled);
        let over_allowance = Facts {
            allowance: Some(false),
            ..none_cached.clone()
        };
        assert_eq!(decide(&over_allowance, &chain(true), &limited()), throttled);
        let degrade_failed = Facts {
            allowance: Some(true),
            reserved: Some(true),
            failures: vec!["cheap: HTTP 503".into()],
            ..none_cached
        };
        assert_eq!(decide(&degrade_failed, &chain(true), &limited()), throttled);
    }

    #[test]
    fn a_refused_reservation_throttles_for_the_cost_limit() {
        let refused = Facts {
            reserved: Some(false),
            ..Facts::default()
        };
        assert_eq!(
            decide(&refused, &chain(true), &unlimited()),
            Action::Finish(Verdict::OverBudget)
        );
        let degrading = Facts {
            cached: Some(false),
            allowance: Some(true),
            reserved: Some(false),
            ..overflowed(5000)
        };
        assert_eq!(
            decide(&degrading, &chain(true), &limited()),
            Action::Finish(Verdict::OverBudget)
        );
    }

    #[test]
    fn a_failed_step_falls_back_to_the_next_one_degraded() {
        let chain = chain(true);
        let facts = Facts {
            reserved: Some(true),
            failures: vec!["first: circuit open".into()],
            ..Facts::default()
        };
        assert_eq!(
            decide(&facts, &chain, &unlimited()),
            Action::Call {
                step: &chain.steps[1],
                degraded: true
            }
        );
    }

    #[test]
    fn every_step_down_falls_back_to_the_cache_with_a_notice_then_fails() {
        let chain = chain(true);
        let mut facts = Facts {
            rate: Some(Rate::Allowed),
            reserved: Some(true),
            failures: vec!["first: circuit open".into(), "second: HTTP 503".into()],
            ..Facts::default()
        };
        assert_eq!(decide(&facts, &chain, &limited()), Action::LookUpCache);
        facts.cached = Some(true);
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Finish(Verdict::FromCache {
                limited_notice: true
            })
        );
        facts.cached = Some(false);
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Finish(Verdict::AllDown)
        );
    }

    #[test]
    fn every_step_refused_by_daily_quotas_is_throttled_unless_cached_and_other_failures_fail() {
        let chain = chain(true);
        let mut facts = Facts {
            rate: Some(Rate::Allowed),
            reserved: Some(true),
            failures: vec!["first: quota".into(), "second: quota".into()],
            quota_refused: 2,
            cached: Some(false),
            ..Facts::default()
        };
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Finish(Verdict::OverQuota)
        );
        facts.cached = Some(true);
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Finish(Verdict::FromCache {
                limited_notice: true
            })
        );
        facts.cached = Some(false);
        facts.quota_refused = 1;
        assert_eq!(
            decide(&facts, &chain, &limited()),
            Action::Finish(Verdict::AllDown),
            "one step down for another reason: the request failed, it is not a quota matter"
        );
    }
}
