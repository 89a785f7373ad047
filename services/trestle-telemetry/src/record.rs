//! Typed telemetry events: each function logs (where an operator cares) and counts.

use std::time::Duration;

use crate::names;

/// An event reached the log.
pub fn event_published(event: &'static str) {
    metrics::counter!(names::EVENTS_PUBLISHED_TOTAL, "event" => event).increment(1);
}

/// An HTTP request was refused with a 4xx.
pub fn http_rejected(reason: &'static str) {
    metrics::counter!(names::HTTP_REJECTED_TOTAL, "reason" => reason).increment(1);
}

/// The engine refused a request: its company is not provisioned (`standing` says how far
/// it got).
pub fn request_refused(standing: &'static str) {
    metrics::counter!(names::REQUESTS_UNPROVISIONED_TOTAL, "standing" => standing).increment(1);
}

/// The engine checked a request's claim on its request_id: `owned`, `duplicate` (another
/// record owns it), `unchecked` (no shard to record it in) or `error` (the shard failed).
pub fn request_claim(outcome: &'static str) {
    metrics::counter!(names::REQUEST_CLAIMS_TOTAL, "outcome" => outcome).increment(1);
}

/// The engine made a provider call from another cloud project than the company's own.
pub fn request_rerouted(reason: &'static str) {
    metrics::counter!(names::REQUESTS_REROUTED_TOTAL, "reason" => reason).increment(1);
}

/// The engine completed an answer made from `path`.
pub fn answer(path: &'static str) {
    metrics::counter!(names::ANSWERS_TOTAL, "path" => path).increment(1);
}

/// A daily provider quota was asked for one call.
pub fn quota_decision(provider: &str, outcome: &'static str) {
    metrics::counter!(names::QUOTA_DECISIONS_TOTAL, "provider" => provider.to_string(), "outcome" => outcome)
        .increment(1);
}

/// The quota counters lost Redis (counted once per outage).
pub fn quota_redis_outage() {
    metrics::counter!(names::QUOTA_REDIS_OUTAGES_TOTAL).increment(1);
}

/// The timer service fired a timer `late` after its due time.
pub fn timer_fired(late: Duration) {
    metrics::counter!(names::TIMERS_FIRED_TOTAL).increment(1);
    metrics::histogram!(names::TIMER_FIRE_DELAY_SECONDS).record(late.as_secs_f64());
}

/// A consumer took records off a topic.
pub fn records_consumed(stage: &'static str, count: usize) {
    metrics::counter!(names::RECORDS_CONSUMED_TOTAL, "stage" => stage).increment(count as u64);
}

/// A record was sent to the dead-letter topic.
pub fn dead_lettered(stage: &'static str, topic: &str, partition: i32, offset: i64, error: &str) {
    tracing::warn!(
        message = "Sent an undecodable record to the dead-letter topic.",
        stage,
        topic,
        partition,
        offset,
        error
    );
    metrics::counter!(names::DEAD_LETTERS_TOTAL, "stage" => stage).increment(1);
}

/// A provider call finished.
pub fn provider_call(provider: &str, outcome: &'static str, latency: Duration) {
    metrics::counter!(names::PROVIDER_CALLS_TOTAL, "provider" => provider.to_string(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(names::PROVIDER_LATENCY_SECONDS, "provider" => provider.to_string())
        .record(latency.as_secs_f64());
}

/// A Kafka transaction committed or aborted.
pub fn transaction(outcome: &'static str) {
    metrics::counter!(names::TRANSACTIONS_TOTAL, "outcome" => outcome).increment(1);
}

/// A projector committed a batch.
pub fn projector_batch(projector: &'static str, records: usize, duplicates: usize) {
    metrics::histogram!(names::PROJECTOR_BATCH_RECORDS, "projector" => projector)
        .record(records as f64);
    if duplicates > 0 {
        metrics::counter!(names::USAGE_DUPLICATES_TOTAL, "projector" => projector)
            .increment(duplicates as u64);
    }
}

/// A request took a step of the ladder or of the all-down fallback.
pub fn ladder_step(step: &'static str) {
    metrics::counter!(names::LADDER_STEPS_TOTAL, "step" => step).increment(1);
}

/// A record left the fair scheduler's queue after `waited`.
pub fn queue_wait(tier: &'static str, waited: Duration) {
    metrics::histogram!(names::SCHEDULER_QUEUE_SECONDS, "tier" => tier)
        .record(waited.as_secs_f64());
}

/// The fair scheduler's current load.
pub fn scheduler_load(buffered: usize, in_flight: usize) {
    metrics::gauge!(names::SCHEDULER_BUFFERED_RECORDS).set(buffered as f64);
    metrics::gauge!(names::SCHEDULER_IN_FLIGHT_RECORDS).set(in_flight as f64);
}

/// A partition was paused because its buffers filled.
pub fn partition_paused() {
    metrics::counter!(names::PARTITIONS_PAUSED_TOTAL).increment(1);
}

/// A circuit breaker changed state.
pub fn breaker_transition(provider: &str, to: &'static str) {
    metrics::counter!(names::BREAKER_TRANSITIONS_TOTAL, "provider" => provider.to_string(), "to" => to)
        .increment(1);
}
