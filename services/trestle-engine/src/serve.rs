//! Serving one admitted request — always ending in exactly one outcome event: the thin
//! executor of the ladder. `ladder.rs` decides what to do next (a pure function of what was
//! answered so far); this file does it — asks the rate limiter (Redis GCRA), the cache and the
//! monthly budget, calls providers (`calls.rs`: through the company's cloud project or a spare,
//! within its daily quota, behind the circuit breakers) — and records the answers. A job
//! question is routed by its job's state (`routing.rs`) before its first reservation: when RAG
//! answers it first, the chain runs without its notebook steps. Also the ladder's and the cost
//! limits' options.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use trestle_breaker::{Breakers, Transition};
use trestle_budget::{Budgets, Month, Overrides, Refused};
use trestle_events::{AiRequestSubmitted, Event};
use trestle_quota::Quotas;
use trestle_ratelimit::{Decision, Limit, RateLimiter};
use uuid::Uuid;

use crate::cache::{Cached, ResponseCache};
use crate::calls::call;
use crate::chains::{Chain, Chains, Step};
use crate::directory::Tenant;
use crate::ladder::{decide, Action, Facts, Policy, Rate, Verdict};
use crate::outcome;
use crate::provider::ProviderClient;
use crate::reservation::ReservationGuard;
use crate::routing::{self, JobAnswering, Route};

/// The ladder's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LadderOptions {
    /// Off: no rate limit (and so no ladder) is applied. Default on.
    pub enabled: bool,
    /// A limited request waits (holding one of its company's in-flight slots, so only that
    /// company waits) when the limiter says it may go within this time; beyond it the
    /// company's queue overflows and the ladder goes on. Default 2000.
    pub max_queue_wait_ms: u64,
    /// The degrade allowance: a company over its rate limit may still make this fraction of
    /// its tier's rate on the cheaper step of the kind's chain (`degrade_to`). 0 disables
    /// degrading. Default 0.5.
    pub degrade_fraction: f64,
}

impl Default for LadderOptions {
    fn default() -> Self {
        LadderOptions {
            enabled: true,
            max_queue_wait_ms: 2000,
            degrade_fraction: 0.5,
        }
    }
}

/// Monthly query and cost limits, enforced before any provider call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostLimitOptions {
    /// Off: no monthly limit is enforced. Default on.
    pub enabled: bool,
    /// Where reservations are kept (Redis) and the tier defaults.
    pub budget: trestle_budget::BudgetOptions,
    /// Companies whose contract differs from their tier, by company id.
    pub overrides: std::collections::BTreeMap<Uuid, LimitOverride>,
}

impl Default for CostLimitOptions {
    fn default() -> Self {
        CostLimitOptions {
            enabled: true,
            budget: Default::default(),
            overrides: Default::default(),
        }
    }
}

/// One company's own monthly limits; a field left out keeps the tier's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverride {
    pub queries_per_month: Option<u64>,
    pub cost_micro_usd_per_month: Option<i64>,
}

/// The rate limiters of the ladder: the tier limit and the (separately keyed) degrade allowance.
#[derive(Debug, Clone)]
pub(crate) struct Limiters {
    pub rate: RateLimiter,
    pub degraded: RateLimiter,
}

/// Everything serving needs, shared by every request task.
pub(crate) struct Services {
    pub client: ProviderClient,
    /// Tenants and price books (the version in effect prices each call).
    pub directory: crate::directory::Directory,
    pub chains: Chains,
    pub breakers: Breakers,
    pub limiters: Option<Limiters>,
    pub budgets: Option<Budgets>,
    /// Daily provider quotas per cloud project; `None`: off.
    pub quotas: Option<Quotas>,
    pub overrides: std::collections::BTreeMap<Uuid, LimitOverride>,
    pub cache: ResponseCache,
    pub ladder: LadderOptions,
    /// Breaker transitions, published by the session in its next transaction.
    pub transitions: UnboundedSender<Transition>,
    /// Routing of job questions by the job's state; `None`: no shard databases configured,
    /// every step answers from the prompt alone.
    pub answering: Option<JobAnswering>,
    /// Who owns each request_id, in the companies' shards (`claims.rs`).
    pub claims: crate::claims::Claims,
    /// Expiry timers of answers (`retention.rs`).
    pub retention: crate::retention::Retention,
}

/// What the answers so far hold that the outcome is made of.
#[derive(Default)]
struct Held {
    reservation: Option<ReservationGuard>,
    refused: Option<Refused>,
    cached: Option<Cached>,
    answer: Vec<Event>,
}

/// Serves one valid request of a known kind; returns the events to publish for it.
pub(crate) async fn serve(
    services: &Services,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
) -> Vec<Event> {
    let Some(chain) = services.chains.for_kind(submitted.kind) else {
        let reason = "no provider chain for this kind".into();
        return vec![outcome::failed(submitted, reason, vec![], false)];
    };
    let limit = (services.limiters.as_ref()).map(|l| l.rate.tier_limit(tenant.tier));
    let ladder = &services.ladder;
    let policy = Policy::new(limit, ladder.max_queue_wait_ms, ladder.degrade_fraction);
    let mut facts = Facts::default();
    let mut held = Held::default();
    // What the steps answer from, read (for a job question, from its company's shard) just
    // before the first reservation or call, so a request the ladder ends first costs no read.
    let mut route: Option<Route> = None;
    // The chain without its notebook steps, when RAG answers first.
    let mut rag_chain: Option<Chain> = None;
    loop {
        let chain = rag_chain.as_ref().unwrap_or(chain);
        let action = decide(&facts, chain, &policy);
        if route.is_none() && matches!(action, Action::Reserve(_) | Action::Call { .. }) {
            let answering = services.answering.as_ref();
            let routed = routing::resolve(answering, submitted, tenant).await;
            if routed.rag_first() {
                rag_chain = routing::without_notebook_steps(chain);
            }
            route = Some(routed);
            continue;
        }
        match action {
            Action::CheckRate => facts.rate = Some(check_rate(services, submitted, limit).await),
            Action::Wait { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                facts.waited(ms);
            }
            Action::LookUpCache => {
                held.cached = services.cache.get(submitted).await;
                facts.cached = Some(held.cached.is_some());
            }
            Action::CheckAllowance(allowance) => {
                let allowed = check_allowance(services, submitted, allowance).await;
                facts.allowance = Some(allowed);
            }
            Action::Reserve(step) => match reserve(services, submitted, tenant, step).await {
                Ok(guard) => {
                    held.reservation = guard;
                    facts.reserved = Some(true);
                }
                Err(refused) => {
                    held.refused = Some(refused);
                    facts.reserved = Some(false);
                }
            },
            Action::Call { step, degraded } => {
                let route = route.as_ref().unwrap_or(&Route::Prompt);
                match call(services, step, submitted, tenant, degraded, route).await {
                    Ok(events) => {
                        held.answer = events;
                        facts.answered = true;
                    }
                    Err(why) => {
                        facts.quota_refused += usize::from(why.quota_only());
                        facts.failures.push(why.to_string());
                    }
                }
            }
            Action::Finish(verdict) => {
                let ending = Ending {
                    submitted,
                    tenant,
                    chain,
                    failures: &facts.failures,
                };
                return ending.finish(verdict, held).await;
            }
        }
    }
}

/// What a request's outcome names besides what was held.
struct Ending<'a> {
    submitted: &'a AiRequestSubmitted,
    tenant: &'a Tenant,
    chain: &'a Chain,
    failures: &'a [String],
}

impl Ending<'_> {
    /// Ends the reservation (settled when a provider answered, else released) and builds the
    /// outcome.
    async fn finish(self, verdict: Verdict, held: Held) -> Vec<Event> {
        let Held {
            reservation,
            refused,
            cached,
            answer,
        } = held;
        if let Some(reservation) = reservation {
            match verdict {
                Verdict::Served | Verdict::Degraded => reservation.settle(&answer).await,
                _ => reservation.release().await,
            }
        }
        let submitted = self.submitted;
        match (verdict, cached, refused) {
            (Verdict::Served, ..) => answer,
            (Verdict::Degraded, ..) => {
                trestle_telemetry::ladder_step("degraded");
                answer
            }
            (Verdict::FromCache { limited_notice }, Some(cached), _) => {
                let step = if limited_notice {
                    "all_down_cache"
                } else {
                    "cache"
                };
                trestle_telemetry::ladder_step(step);
                vec![outcome::from_cache(submitted, cached, limited_notice)]
            }
            (
                Verdict::Throttled {
                    limit,
                    retry_after_ms,
                },
                ..,
            ) => {
                trestle_telemetry::ladder_step("throttled");
                let tier = self.tenant.tier;
                vec![outcome::rate_limited(
                    submitted,
                    limit,
                    tier,
                    retry_after_ms,
                )]
            }
            (Verdict::OverBudget, _, Some(refused)) => {
                trestle_telemetry::ladder_step("cost_limit");
                vec![outcome::over_budget(submitted, &refused)]
            }
            (Verdict::OverQuota, ..) => {
                trestle_telemetry::ladder_step("provider_quota");
                vec![outcome::over_quota(submitted, self.failures)]
            }
            (Verdict::AllDown | Verdict::FromCache { .. } | Verdict::OverBudget, ..) => {
                self.all_down()
            }
        }
    }

    /// Every provider failed or is open and nothing is cached: a clear, retryable failure.
    fn all_down(self) -> Vec<Event> {
        trestle_telemetry::ladder_step("all_down_failed");
        let providers = self
            .chain
            .steps
            .iter()
            .map(|s| s.provider.clone())
            .collect();
        let reason = format!(
            "AI temporarily limited: every provider of the {} chain is unavailable and no cached answer exists ({})",
            self.submitted.kind,
            self.failures.join("; ")
        );
        vec![outcome::failed(self.submitted, reason, providers, true)]
    }
}

/// Asks the company's rate limiter; without one, every request is allowed.
async fn check_rate(
    services: &Services,
    submitted: &AiRequestSubmitted,
    limit: Option<Limit>,
) -> Rate {
    let (Some(limiters), Some(limit)) = (&services.limiters, limit) else {
        return Rate::Allowed;
    };
    match limiters.rate.check(submitted.meta.company_id, limit).await {
        Decision::Allowed { .. } => Rate::Allowed,
        Decision::Limited { retry_after_ms, .. } => Rate::Limited { retry_after_ms },
    }
}

/// Asks the company's degrade allowance.
async fn check_allowance(
    services: &Services,
    submitted: &AiRequestSubmitted,
    allowance: Limit,
) -> bool {
    let Some(limiters) = &services.limiters else {
        return false;
    };
    (limiters.degraded)
        .check(submitted.meta.company_id, allowance)
        .await
        .is_allowed()
}

/// Reserves the estimated cost of a call to `step` against the company's monthly limits.
/// `Ok(None)`: limits are off.
async fn reserve(
    services: &Services,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
    step: &Step,
) -> Result<Option<ReservationGuard>, Refused> {
    let Some(budgets) = &services.budgets else {
        return Ok(None);
    };
    let overrides = services
        .overrides
        .get(&submitted.meta.company_id)
        .map(|o| Overrides {
            queries: o.queries_per_month.map(Some),
            cost_micro_usd: o.cost_micro_usd_per_month.map(Some),
        })
        .unwrap_or_default();
    let limits = budgets.limits_for(tenant.tier, &overrides);
    let words = submitted.prompt.split_whitespace().count() as i64;
    let estimate = services
        .directory
        .price_book(submitted.meta.occurred_at)
        .cost(
            step.meter,
            step.quantity_milli(&submitted.prompt, words.max(1), 150),
        );
    let month = Month::of(submitted.meta.occurred_at.date_naive());
    let reservation = budgets
        .reserve(submitted.meta.company_id, month, limits, estimate)
        .await?;
    Ok(Some(ReservationGuard::new(budgets.clone(), reservation)))
}
