//! Typed telemetry: each function logs (where an operator cares) and counts.

/// The metric names this crate emits (defined with all others in `trestle_telemetry::names`).
pub mod names {
    pub use trestle_telemetry::names::{
        RATELIMIT_DECISIONS_TOTAL as DECISIONS_TOTAL,
        RATELIMIT_REDIS_OUTAGES_TOTAL as REDIS_OUTAGES_TOTAL,
    };
}

use std::fmt::Display;
use std::time::Duration;

use crate::limit::Source;

/// A decision was made.
pub(crate) fn decided(source: Source, allowed: bool) {
    let outcome = if allowed { "allowed" } else { "limited" };
    metrics::counter!(names::DECISIONS_TOTAL, "source" => source.as_str(), "outcome" => outcome)
        .increment(1);
}

/// Redis stopped answering: from now on this instance limits on its own share.
pub(crate) fn redis_outage_began(redis_url: &str, fallback_instances: u32, error: &dyn Display) {
    tracing::warn!(
        message = "Redis does not answer; rate limits fall back to this instance's share until it does.",
        redis_url,
        fallback_instances,
        %error
    );
    metrics::counter!(names::REDIS_OUTAGES_TOTAL).increment(1);
}

/// Redis answers again: limits are shared again.
pub(crate) fn redis_outage_ended(redis_url: &str, outage: Duration) {
    tracing::info!(
        message = "Redis answers again; rate limits are shared again.",
        redis_url,
        outage_ms = u64::try_from(outage.as_millis()).unwrap_or(u64::MAX)
    );
}
