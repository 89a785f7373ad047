//! Typed telemetry: each function logs (where an operator cares) and counts. Labels are
//! bounded: never a company id.

/// The metric names this crate emits (defined with all others in `trestle_telemetry::names`).
pub mod names {
    pub use trestle_telemetry::names::{
        BUDGET_COMPLETIONS_TOTAL as COMPLETIONS_TOTAL,
        BUDGET_QUEUED_DROPPED_TOTAL as QUEUED_DROPPED_TOTAL,
        BUDGET_REDIS_OUTAGES_TOTAL as REDIS_OUTAGES_TOTAL,
        BUDGET_RESERVATIONS_RECLAIMED_TOTAL as RESERVATIONS_RECLAIMED_TOTAL,
        BUDGET_RESERVATIONS_TOTAL as RESERVATIONS_TOTAL,
    };
}

use std::fmt::Display;
use std::time::Duration;

use crate::outcome::{Completion, LimitKind, Source};

/// A reservation was granted or refused.
pub(crate) fn reserved(source: Source, refused: Option<LimitKind>) {
    let outcome = match refused {
        None => "granted",
        Some(LimitKind::Queries) => "refused_queries",
        Some(LimitKind::Cost) => "refused_cost",
    };
    metrics::counter!(names::RESERVATIONS_TOTAL, "source" => source.as_str(), "outcome" => outcome)
        .increment(1);
}

/// A settle or release was done (or not).
pub(crate) fn completed(settle: bool, completion: Completion) {
    let kind = if settle { "settle" } else { "release" };
    metrics::counter!(names::COMPLETIONS_TOTAL, "kind" => kind, "outcome" => completion.as_str())
        .increment(1);
}

/// A settle came after the settle window: its spend is not counted.
pub(crate) fn too_late(settle_window_ms: u64, reserved_at_ms: i64) {
    tracing::warn!(
        message = "A reservation was settled after the settle window; its spend is not counted.",
        settle_window_ms,
        reserved_at_ms
    );
}

/// Redis reclaimed the holds of reservations nobody settled or released.
pub(crate) fn reclaimed(count: u64) {
    if count > 0 {
        metrics::counter!(names::RESERVATIONS_RECLAIMED_TOTAL).increment(count);
    }
}

/// Redis stopped answering: from now on this instance grants its own share.
pub(crate) fn redis_outage_began(redis_url: &str, fallback_instances: u32, error: &dyn Display) {
    tracing::warn!(
        message = "Redis does not answer; monthly budgets fall back to this instance's share until it does.",
        redis_url,
        fallback_instances,
        %error
    );
    metrics::counter!(names::REDIS_OUTAGES_TOTAL).increment(1);
}

/// Redis answers again: budgets are shared again.
pub(crate) fn redis_outage_ended(redis_url: &str, outage: Duration) {
    tracing::info!(
        message = "Redis answers again; monthly budgets are shared again.",
        redis_url,
        outage_ms = u64::try_from(outage.as_millis()).unwrap_or(u64::MAX)
    );
}

/// The queue of completions for Redis was full: the oldest were dropped.
pub(crate) fn queued_dropped(count: usize, fallback_max_queued: usize) {
    tracing::warn!(
        message = "Dropped the oldest settles and releases waiting for Redis; their spend will not be counted.",
        count,
        fallback_max_queued
    );
    metrics::counter!(names::QUEUED_DROPPED_TOTAL).increment(count as u64);
}

/// An amount was negative (a caller's bug); zero was used instead.
pub(crate) fn negative_amount(what: &'static str, micro_usd: i64) {
    tracing::warn!(
        message = "A negative amount was passed to a budget; zero is used instead.",
        what,
        micro_usd
    );
}
