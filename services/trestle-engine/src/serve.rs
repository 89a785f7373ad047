//! Serving one admitted request: the noisy-neighbour ladder, then the provider chain behind
//! circuit breakers, then the all-down fallback — always ending in exactly one outcome event.
//!
//! ```text
//! rate limit (Redis GCRA, per company, by tier)
//!   allowed ───────────────────────────────────────────────▶ provider chain
//!   limited: wait in the company's queue if the wait is short (≤ max_queue_wait_ms)
//!   queue overflow ─▶ cached answer?        yes ─▶ AiRequestServedFromCache
//!                   ─▶ degrade allowance?    yes ─▶ cheaper step, completion degraded = true
//!                   ─▶ AiRequestThrottled (rate_limit, retry-after)
//! provider chain: each step whose breaker admits it, in order; the first answer wins
//!   (degraded = true when it is not the first step)
//! every step failed or open ─▶ cached answer, limited_notice ("AI temporarily limited")
//!                           ─▶ AiRequestFailed naming every provider and why
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use trestle_breaker::{BreakerKey, Breakers, Outcome, Permit, Transition};
use trestle_budget::{Budgets, Month, Overrides, Refused, Reservation};
use trestle_events::{
    AiRequestCompleted, AiRequestFailed, AiRequestServedFromCache, AiRequestSubmitted,
    AiRequestThrottled, Event, Meta, ThrottleReason, UsageRecorded,
};
use trestle_ratelimit::{Decision, Limit, RateLimiter, RETRY_NEVER_MS};
use uuid::Uuid;

use crate::cache::ResponseCache;
use crate::chains::{Chains, Step};
use crate::directory::Tenant;
use crate::provider::ProviderClient;

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
    pub overrides: std::collections::BTreeMap<Uuid, LimitOverride>,
    pub cache: ResponseCache,
    pub ladder: LadderOptions,
    /// Breaker transitions, published by the session in its next transaction.
    pub transitions: UnboundedSender<Transition>,
}

/// Serves one valid request of a known kind; returns the events to publish for it.
pub(crate) async fn serve(
    services: Arc<Services>,
    submitted: AiRequestSubmitted,
    tenant: Tenant,
) -> Vec<Event> {
    let Some(chain) = services.chains.for_kind(submitted.kind) else {
        return vec![failed(
            &submitted,
            "no provider chain for this kind".into(),
            vec![],
            false,
        )];
    };
    if let Some(limiters) = &services.limiters {
        let limit = limiters.rate.tier_limit(tenant.tier);
        if let Some(retry_after_ms) = wait_for_rate(&services, limiters, &submitted, limit).await {
            return over_the_limit(
                &services,
                limiters,
                &submitted,
                &tenant,
                limit,
                retry_after_ms,
            )
            .await;
        }
    }
    let reservation = match reserve(&services, &submitted, &tenant, &chain.steps[0]).await {
        Ok(reservation) => reservation,
        Err(refused) => return vec![over_budget(&submitted, &refused)],
    };
    let mut tried = Vec::new();
    for (index, step) in chain.steps.iter().enumerate() {
        match call(&services, step, &submitted, &tenant, index > 0).await {
            Ok(events) => {
                settle(&services, reservation.as_ref(), &events).await;
                return events;
            }
            Err(why) => tried.push(why),
        }
    }
    if let (Some(budgets), Some(r)) = (&services.budgets, &reservation) {
        budgets.release(r).await;
    }
    // Every provider failed or is open: the cached answer, marked, or a clear failure.
    if let Some(cached) = services.cache.get(&submitted).await {
        trestle_telemetry::ladder_step("all_down_cache");
        return vec![from_cache(&submitted, cached, true)];
    }
    trestle_telemetry::ladder_step("all_down_failed");
    let providers = chain.steps.iter().map(|s| s.provider.clone()).collect();
    let reason = format!(
        "AI temporarily limited: every provider of the {} chain is unavailable and no cached answer exists ({})",
        submitted.kind,
        tried.join("; ")
    );
    vec![failed(&submitted, reason, providers, true)]
}

/// Takes the company's rate limit, waiting in its queue while the wait is short. `None`: go
/// ahead; `Some(retry_after_ms)`: the queue overflows.
async fn wait_for_rate(
    services: &Services,
    limiters: &Limiters,
    submitted: &AiRequestSubmitted,
    limit: Limit,
) -> Option<u64> {
    let mut waited_ms = 0u64;
    loop {
        match limiters.rate.check(submitted.meta.company_id, limit).await {
            Decision::Allowed { .. } => return None,
            Decision::Limited { retry_after_ms, .. } => {
                let budget = services.ladder.max_queue_wait_ms.saturating_sub(waited_ms);
                if retry_after_ms == RETRY_NEVER_MS || retry_after_ms > budget {
                    return Some(retry_after_ms);
                }
                let wait = retry_after_ms.max(1);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                waited_ms += wait;
            }
        }
    }
}

/// Ladder steps 2–4 for a request whose company's queue overflowed.
async fn over_the_limit(
    services: &Services,
    limiters: &Limiters,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
    limit: Limit,
    retry_after_ms: u64,
) -> Vec<Event> {
    if let Some(cached) = services.cache.get(submitted).await {
        trestle_telemetry::ladder_step("cache");
        return vec![from_cache(submitted, cached, false)];
    }
    let chain = services.chains.for_kind(submitted.kind);
    if let Some(step) = chain.and_then(|c| c.degrade_to.as_ref()) {
        let fraction = services.ladder.degrade_fraction;
        let allowance = Limit::with_burst_fraction(
            (f64::from(limit.per_minute) * fraction).floor() as u32,
            f64::from(limit.burst) / f64::from(limit.per_minute.max(1)),
        );
        if allowance.per_minute > 0
            && limiters
                .degraded
                .check(submitted.meta.company_id, allowance)
                .await
                .is_allowed()
        {
            let reservation = match reserve(services, submitted, tenant, step).await {
                Ok(reservation) => reservation,
                Err(refused) => return vec![over_budget(submitted, &refused)],
            };
            match call(services, step, submitted, tenant, true).await {
                Ok(events) => {
                    settle(services, reservation.as_ref(), &events).await;
                    trestle_telemetry::ladder_step("degraded");
                    return events;
                }
                Err(_) => {
                    if let (Some(budgets), Some(r)) = (&services.budgets, &reservation) {
                        budgets.release(r).await;
                    }
                }
            }
        }
    }
    trestle_telemetry::ladder_step("throttled");
    vec![Event::AiRequestThrottled(AiRequestThrottled {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        reason: ThrottleReason::RateLimit,
        limit: format!("{} rpm ({})", limit.per_minute, tenant.tier),
        retry_after_ms: (retry_after_ms != RETRY_NEVER_MS).then_some(retry_after_ms as i64),
    })]
}

/// Reserves the estimated cost of a call to `step` against the company's monthly limits.
/// `Ok(None)`: limits are off.
async fn reserve(
    services: &Services,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
    step: &Step,
) -> Result<Option<Reservation>, Refused> {
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
    budgets
        .reserve(submitted.meta.company_id, month, limits, estimate)
        .await
        .map(Some)
}

/// Settles a reservation with the cost the call's usage event carries.
async fn settle(services: &Services, reservation: Option<&Reservation>, events: &[Event]) {
    let (Some(budgets), Some(reservation)) = (&services.budgets, reservation) else {
        return;
    };
    let actual = events
        .iter()
        .map(|e| match e {
            Event::UsageRecorded(u) => u.cost_micro_usd,
            _ => 0,
        })
        .sum();
    budgets.settle(reservation, actual).await;
}

/// The throttled outcome of a request over its company's monthly limit; retry when the next
/// month begins.
fn over_budget(submitted: &AiRequestSubmitted, refused: &Refused) -> Event {
    trestle_telemetry::ladder_step("cost_limit");
    let now = submitted.meta.occurred_at;
    let next_month = {
        use chrono::{Datelike, TimeZone};
        let (y, m) = if now.month() == 12 {
            (now.year() + 1, 1)
        } else {
            (now.year(), now.month() + 1)
        };
        chrono::Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()
    };
    Event::AiRequestThrottled(AiRequestThrottled {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        reason: ThrottleReason::CostLimit,
        limit: refused.to_string(),
        retry_after_ms: next_month.map(|t| (t - now).num_milliseconds().max(0)),
    })
}

/// One provider call behind its breaker. `Err` says why this step did not answer.
async fn call(
    services: &Services,
    step: &Step,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
    degraded: bool,
) -> Result<Vec<Event>, String> {
    let key = BreakerKey::new(
        step.provider.as_str(),
        tenant.cloud_project.as_str(),
        tenant.region.as_str(),
    );
    let ticket = match services.breakers.acquire(&key) {
        Permit::Granted { ticket, transition } => {
            publish(services, transition);
            ticket
        }
        Permit::Refused { state, .. } => {
            return Err(format!("{}: circuit {state}", step.provider));
        }
    };
    let result = services
        .client
        .ask(&step.provider, &step.model, &submitted.prompt)
        .await;
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    publish(services, services.breakers.record(ticket, outcome));
    let answer = result.map_err(|e| e.to_string())?;
    let quantity_milli =
        step.quantity_milli(&submitted.prompt, answer.input_tokens, answer.output_tokens);
    let prices = services.directory.price_book(chrono::Utc::now());
    let cost = prices.cost(step.meter, quantity_milli);
    let completed = AiRequestCompleted {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        provider: step.provider.clone(),
        model: step.model.clone(),
        cloud_project_id: Some(tenant.cloud_project.clone()),
        latency_ms: answer.latency.as_millis() as i64,
        degraded,
        answer: answer.text,
        input_tokens: answer.input_tokens,
        output_tokens: answer.output_tokens,
        cost_micro_usd: cost,
    };
    services
        .cache
        .put(submitted, &completed.answer, completed.meta.occurred_at)
        .await;
    let usage = UsageRecorded {
        meta: Meta::caused_by(&completed.meta),
        request_id: submitted.request_id,
        meter: step.meter,
        quantity_milli,
        cost_micro_usd: cost,
        price_book_version: prices.version,
        idempotency_key: UsageRecorded::idempotency_key_for(submitted.request_id, step.meter),
    };
    Ok(vec![
        Event::AiRequestCompleted(completed),
        Event::UsageRecorded(usage),
    ])
}

fn publish(services: &Services, transition: Option<Transition>) {
    if let Some(t) = transition {
        tracing::info!(message = "Circuit breaker changed state.", breaker = %t.key, from = %t.from, to = %t.to, failure_rate = t.failure_rate);
        let _ = services.transitions.send(t);
    }
}

fn from_cache(
    submitted: &AiRequestSubmitted,
    cached: crate::cache::Cached,
    limited_notice: bool,
) -> Event {
    Event::AiRequestServedFromCache(AiRequestServedFromCache {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        cached_at: chrono::DateTime::from_timestamp_micros(cached.cached_at_micros)
            .unwrap_or(submitted.meta.occurred_at),
        limited_notice,
        answer: cached.answer,
    })
}

fn failed(
    submitted: &AiRequestSubmitted,
    reason: String,
    providers_tried: Vec<String>,
    retryable: bool,
) -> Event {
    Event::AiRequestFailed(AiRequestFailed {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        reason,
        providers_tried,
        retryable,
    })
}
