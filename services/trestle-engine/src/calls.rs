//! One provider step of a request and the calls it makes through the federation: from the
//! company's own cloud project or, when that one is in maintenance, its circuit for the
//! provider is open or its daily quota is used up, a spare (`federation.rs` says which, in
//! order) — or, for a query of a job's notebook, from the notebook's own project only; within
//! the chosen project's daily quota (`trestle-quota`) and behind its (provider, project,
//! region) circuit breaker. What a step asks is `answers.rs`'s (the prompt, a job's notebook,
//! RAG); this file turns its answer into the completion and its priced usage — preceded by
//! `AiRequestRerouted` for each call a spare took.

use std::future::Future;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use trestle_breaker::{BreakerKey, Outcome, Permit, Transition};
use trestle_events::{
    AiRequestCompleted, AiRequestRerouted, AiRequestSubmitted, Event, Meta, Meter, Region,
    RerouteReason, UsageRecorded,
};
use trestle_quota::Take;

use crate::answers::{self, Answered};
use crate::chains::Step;
use crate::directory::Tenant;
use crate::federation::Route as Projects;
use crate::provider::CallError;
use crate::routing::{Route, Source};
use crate::serve::Services;
use trestle_notebooks::client::CallError as NotebookCallError;

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
    /// The notebook service refused or failed a query of a job's notebook, or an embedding.
    #[error("{provider}: {source}")]
    Notebook {
        provider: String,
        #[source]
        source: NotebookCallError,
    },
    /// The step cannot answer this request: its job has no notebook for it, the job's state
    /// or chunks could not be read, a notebook cited sources that are not the job's.
    #[error("{provider}: {reason}")]
    Unanswerable { provider: String, reason: String },
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

    /// Whether the failure is the provider's, so its circuit breaker counts it: any failed
    /// chat call; of the notebook service only unavailability (5xx, 429, transport) — a
    /// notebook not ready or a source it lacks says our state is behind, not that the
    /// provider is unwell.
    fn provider_fault(&self) -> bool {
        match self {
            StepError::Call(_) => true,
            StepError::Notebook { source, .. } => {
                matches!(source, NotebookCallError::Unavailable { .. })
            }
            StepError::Unavailable { .. } | StepError::Unanswerable { .. } => false,
        }
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

/// The cloud projects a call may be made from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Through<'a> {
    /// The company's own, then its spares (the federation).
    Company,
    /// This one only: a notebook lives in one project, so a query of it can go nowhere else.
    Only(&'a str),
}

/// A call that answered: what it gave, the project it was made from, and the reroute that
/// announces it when that is not the company's own.
pub(crate) struct Made<T> {
    pub value: T,
    pub project: String,
    pub rerouted: Option<AiRequestRerouted>,
}

/// One step of `submitted`'s chain, answering from what `route` says: its completion and
/// usage events (after any reroutes).
pub(crate) async fn call(
    services: &Services,
    step: &Step,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
    degraded: bool,
    route: &Route,
) -> Result<Vec<Event>, StepError> {
    let asked = answers::Asked {
        services,
        step,
        submitted,
        tenant,
    };
    let answered = match route.source_for(step) {
        Source::Prompt => asked.prompt().await?,
        Source::Notebook(target) => asked.notebook(target).await?,
        Source::Rag(job) => asked.rag(job).await?,
        Source::Refused(reason) => {
            let provider = step.provider.clone();
            return Err(StepError::Unanswerable { provider, reason });
        }
    };
    Ok(events(services, step, submitted, degraded, answered).await)
}

/// The events of an answered step: its reroutes, the completion, the usage of each meter it
/// used (none when no provider was called); the answer is cached.
async fn events(
    services: &Services,
    step: &Step,
    submitted: &AiRequestSubmitted,
    degraded: bool,
    answered: Answered,
) -> Vec<Event> {
    let mut events = Vec::with_capacity(answered.rerouted.len() + 3);
    for rerouted in answered.rerouted {
        trestle_telemetry::request_rerouted(rerouted.reason.as_str());
        events.push(Event::AiRequestRerouted(rerouted));
    }
    let mut used = Vec::with_capacity(2);
    if answered.project.is_some() {
        let quantity = step.quantity_milli(
            &submitted.prompt,
            answered.input_tokens,
            answered.output_tokens,
        );
        used.push((step.meter, quantity));
    }
    if let Some(tokens) = answered.embedding_tokens {
        used.push((Meter::EmbeddingTokens, tokens.max(1) * 1000));
    }
    let prices = services.directory.price_book(Utc::now());
    let priced: Vec<(Meter, i64, i64)> = (used.into_iter())
        .map(|(meter, quantity)| (meter, quantity, prices.cost(meter, quantity)))
        .collect();
    let path = answered.path;
    let completed = AiRequestCompleted {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        provider: step.provider.clone(),
        model: step.model.clone(),
        cloud_project_id: answered.project,
        latency_ms: answered.latency.as_millis() as i64,
        degraded,
        answer: answered.text,
        input_tokens: answered.input_tokens,
        output_tokens: answered.output_tokens,
        cost_micro_usd: priced.iter().map(|(_, _, cost)| cost).sum(),
        answer_path: path,
        cited_document_ids: answered.cited,
    };
    trestle_telemetry::answer(path.as_str());
    if completed.cloud_project_id.is_some() {
        let at = completed.meta.occurred_at;
        services.cache.put(submitted, &completed.answer, at).await;
    }
    let usage = priced.into_iter().map(|(meter, quantity_milli, cost)| {
        Event::UsageRecorded(UsageRecorded {
            meta: Meta::caused_by(&completed.meta),
            request_id: submitted.request_id,
            meter,
            quantity_milli,
            cost_micro_usd: cost,
            price_book_version: prices.version,
            idempotency_key: UsageRecorded::idempotency_key_for(submitted.request_id, meter),
        })
    });
    let usage: Vec<Event> = usage.collect();
    events.push(Event::AiRequestCompleted(completed));
    events.extend(usage);
    events
}

/// Makes one call to `provider` for `submitted` from the first project `through` allows that
/// is not in maintenance, has quota left today and whose breaker lets it through; records the
/// outcome with the breaker and gives the quota back when the call failed.
pub(crate) async fn through<T, F, Fut>(
    services: &Services,
    provider: &str,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
    through: Through<'_>,
    call: F,
) -> Result<Made<T>, StepError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    let day = Utc::now().date_naive();
    let pool = services.directory.pool();
    let projects = match through {
        Through::Company => pool.route(
            submitted.meta.company_id,
            &tenant.cloud_project,
            tenant.region,
            tenant.isolation,
        ),
        Through::Only(project) => Projects {
            home: project.to_owned(),
            home_in_maintenance: pool.in_maintenance(project),
            spares: Vec::new(),
        },
    };
    let mut passed_over = Vec::new();
    let chosen = choose(
        services,
        provider,
        projects,
        tenant.region,
        day,
        &mut passed_over,
    );
    let Some(taken) = chosen.await else {
        let provider = provider.to_owned();
        return Err(StepError::Unavailable {
            provider,
            passed_over,
        });
    };
    let result = call().await;
    let outcome = match &result {
        Err(error) if error.provider_fault() => Outcome::Failure,
        _ => Outcome::Success,
    };
    publish(services, services.breakers.record(taken.ticket, outcome));
    if result.is_err() && taken.counted {
        if let Some(quotas) = &services.quotas {
            quotas.give_back(&taken.project, provider, day).await;
        }
    }
    let value = result?;
    let rerouted = passed_over.first().map(|(_, passed)| AiRequestRerouted {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        provider: provider.to_owned(),
        from_cloud_project_id: tenant.cloud_project.clone(),
        to_cloud_project_id: taken.project.clone(),
        reason: passed.reason(),
    });
    Ok(Made {
        value,
        project: taken.project,
        rerouted,
    })
}

/// Times `call` as one provider call of `provider` (the metric the chat client records per
/// attempt, here per call with its retries).
pub(crate) async fn timed<T, E>(
    provider: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let label = if result.is_ok() { "ok" } else { "error" };
    trestle_telemetry::provider_call(provider, label, started.elapsed());
    result
}

/// The first of `projects` that is not in maintenance, has quota left today for `provider`
/// and whose breaker lets the call through; every one passed over is added to `passed_over`.
async fn choose(
    services: &Services,
    provider: &str,
    projects: Projects,
    region: Region,
    day: NaiveDate,
    passed_over: &mut Vec<(String, Passed)>,
) -> Option<Taken> {
    if projects.home_in_maintenance {
        passed_over.push((projects.home.clone(), Passed::Maintenance));
    }
    let home = (!projects.home_in_maintenance).then_some(projects.home);
    for project in home.into_iter().chain(projects.spares) {
        let take = match &services.quotas {
            Some(quotas) => quotas.take(&project, provider, day).await,
            None => Take::Unlimited,
        };
        if let Take::Exhausted { limit } = take {
            passed_over.push((project, Passed::QuotaExhausted { limit }));
            continue;
        }
        let key = BreakerKey::new(provider, project.as_str(), region.as_str());
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
                    quotas.give_back(&project, provider, day).await;
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
