//! One provider call of a request, through the federation: the company's own cloud project or,
//! when that one is in maintenance, its circuit for the provider is open or its daily quota is
//! used up, a spare (`federation.rs` says which, in order); within the chosen project's daily
//! quota (`trestle-quota`) and behind its (provider, project, region) circuit breaker. Gives the
//! completion and its priced usage — preceded by `AiRequestRerouted` when a spare took the call.

use chrono::{NaiveDate, Utc};
use trestle_breaker::{BreakerKey, Outcome, Permit, Transition};
use trestle_events::{
    AiRequestCompleted, AiRequestRerouted, AiRequestSubmitted, Event, Meta, RerouteReason,
    UsageRecorded,
};
use trestle_quota::Take;

use crate::chains::Step;
use crate::directory::Tenant;
use crate::provider::CallError;
use crate::serve::Services;

/// Why a provider step did not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    /// No project of the company's could take the call; each one passed over and why.
    #[error("{provider}: no cloud project could take the call ({})", describe(.passed_over))]
    Unavailable {
        provider: String,
        passed_over: Vec<(String, Passed)>,
    },
    #[error(transparent)]
    Call(#[from] CallError),
}

impl StepError {
    /// Whether every project was passed over for its daily quota alone (then, if every step
    /// of the chain was, the request is throttled rather than failed).
    pub(crate) fn quota_only(&self) -> bool {
        let StepError::Unavailable { passed_over, .. } = self else {
            return false;
        };
        let quota =
            |(_, passed): &(String, Passed)| matches!(passed, Passed::QuotaExhausted { .. });
        !passed_over.is_empty() && passed_over.iter().all(quota)
    }
}

/// Why a project was passed over for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Passed {
    Maintenance,
    CircuitOpen(trestle_breaker::State),
    QuotaExhausted { limit: u64 },
}

impl Passed {
    fn reason(self) -> RerouteReason {
        match self {
            Passed::Maintenance => RerouteReason::Maintenance,
            Passed::CircuitOpen(_) => RerouteReason::CircuitOpen,
            Passed::QuotaExhausted { .. } => RerouteReason::QuotaExhausted,
        }
    }
}

fn describe(passed_over: &[(String, Passed)]) -> String {
    let each = passed_over.iter().map(|(project, passed)| match passed {
        Passed::Maintenance => format!("{project} in maintenance"),
        Passed::CircuitOpen(state) => format!("{project}: circuit {state}"),
        Passed::QuotaExhausted { limit } => {
            format!("{project}: daily quota of {limit} requests used up")
        }
    });
    each.collect::<Vec<_>>().join("; ")
}

/// A project that took the call: its breaker ticket and whether its quota counted it.
struct Taken {
    project: String,
    ticket: trestle_breaker::Ticket,
    counted: bool,
}

/// One provider call of `submitted` to `step`, from the first of the company's projects that
/// can take it.
pub(crate) async fn call(
    services: &Services,
    step: &Step,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
    degraded: bool,
) -> Result<Vec<Event>, StepError> {
    let day = Utc::now().date_naive();
    let mut passed_over = Vec::new();
    let Some(taken) = choose(services, step, tenant, submitted, day, &mut passed_over).await else {
        let provider = step.provider.clone();
        return Err(StepError::Unavailable {
            provider,
            passed_over,
        });
    };
    let result = services
        .client
        .ask(&step.provider, &step.model, &submitted.prompt)
        .await;
    let outcome = match result {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    };
    publish(services, services.breakers.record(taken.ticket, outcome));
    if result.is_err() && taken.counted {
        if let Some(quotas) = &services.quotas {
            quotas.give_back(&taken.project, &step.provider, day).await;
        }
    }
    let answer = result?;
    let mut events = Vec::with_capacity(3);
    if let Some((_, passed)) = passed_over.first() {
        let reason = passed.reason();
        trestle_telemetry::request_rerouted(reason.as_str());
        events.push(Event::AiRequestRerouted(AiRequestRerouted {
            meta: Meta::caused_by(&submitted.meta),
            request_id: submitted.request_id,
            provider: step.provider.clone(),
            from_cloud_project_id: tenant.cloud_project.clone(),
            to_cloud_project_id: taken.project.clone(),
            reason,
        }));
    }
    let quantity_milli =
        step.quantity_milli(&submitted.prompt, answer.input_tokens, answer.output_tokens);
    let prices = services.directory.price_book(Utc::now());
    let cost = prices.cost(step.meter, quantity_milli);
    let completed = AiRequestCompleted {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        provider: step.provider.clone(),
        model: step.model.clone(),
        cloud_project_id: Some(taken.project),
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
    events.push(Event::AiRequestCompleted(completed));
    events.push(Event::UsageRecorded(usage));
    Ok(events)
}

/// The first project of the company's route that is not in maintenance, has quota left today
/// and whose breaker lets the call through; every one passed over is added to `passed_over`.
async fn choose(
    services: &Services,
    step: &Step,
    tenant: &Tenant,
    submitted: &AiRequestSubmitted,
    day: NaiveDate,
    passed_over: &mut Vec<(String, Passed)>,
) -> Option<Taken> {
    let company = submitted.meta.company_id;
    let route = (services.directory.pool()).route(
        company,
        &tenant.cloud_project,
        tenant.region,
        tenant.isolation,
    );
    if route.home_in_maintenance {
        passed_over.push((route.home.clone(), Passed::Maintenance));
    }
    let home = (!route.home_in_maintenance).then_some(route.home);
    for project in home.into_iter().chain(route.spares) {
        let take = match &services.quotas {
            Some(quotas) => quotas.take(&project, &step.provider, day).await,
            None => Take::Unlimited,
        };
        if let Take::Exhausted { limit } = take {
            passed_over.push((project, Passed::QuotaExhausted { limit }));
            continue;
        }
        let key = BreakerKey::new(
            step.provider.as_str(),
            project.as_str(),
            tenant.region.as_str(),
        );
        match services.breakers.acquire(&key) {
            Permit::Granted { ticket, transition } => {
                publish(services, transition);
                let counted = take.counted();
                return Some(Taken {
                    project,
                    ticket,
                    counted,
                });
            }
            Permit::Refused { state, .. } => {
                if let (Some(quotas), true) = (&services.quotas, take.counted()) {
                    quotas.give_back(&project, &step.provider, day).await;
                }
                passed_over.push((project, Passed::CircuitOpen(state)));
            }
        }
    }
    None
}

/// Hands a breaker transition to the session for its next transaction.
pub(crate) fn publish(services: &Services, transition: Option<Transition>) {
    if let Some(t) = transition {
        tracing::info!(message = "Circuit breaker changed state.", breaker = %t.key, from = %t.from, to = %t.to, failure_rate = t.failure_rate);
        let _ = services.transitions.send(t);
    }
}
