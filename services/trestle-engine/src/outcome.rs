//! The outcome events of a request that no provider answered: served from cache, throttled
//! (rate or cost limit, daily provider quota), failed (every provider down, or an internal
//! error).

use trestle_budget::Refused;
use trestle_events::{
    AiRequestFailed, AiRequestServedFromCache, AiRequestSubmitted, AiRequestThrottled, Event, Meta,
    ThrottleReason,
};
use trestle_ratelimit::{Limit, RETRY_NEVER_MS};

use crate::cache::Cached;
use crate::directory::Standing;

/// The reason of a request whose task failed (a bug): retryable, no provider named.
pub(crate) const INTERNAL_ERROR: &str = "internal error: the engine could not serve this request";

pub(crate) fn from_cache(
    submitted: &AiRequestSubmitted,
    cached: Cached,
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

pub(crate) fn failed(
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

/// The failed outcome of a request of a company that is not provisioned: retryable once it
/// is registered (onboarding provisions it), not when it is unknown.
pub(crate) fn unprovisioned(submitted: &AiRequestSubmitted, standing: Standing) -> Event {
    let company = submitted.meta.company_id;
    failed(
        submitted,
        format!(
            "company {company} is {}: only provisioned companies are served",
            standing.as_str()
        ),
        vec![],
        standing == Standing::Registered,
    )
}

/// The failed outcome of a request whose task panicked.
pub(crate) fn internal_error(submitted: &AiRequestSubmitted) -> Event {
    failed(submitted, INTERNAL_ERROR.into(), vec![], true)
}

/// The throttled outcome of a request over its company's rate limit (`tier` names it).
pub(crate) fn rate_limited(
    submitted: &AiRequestSubmitted,
    limit: Limit,
    tier: impl std::fmt::Display,
    retry_after_ms: u64,
) -> Event {
    Event::AiRequestThrottled(AiRequestThrottled {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        reason: ThrottleReason::RateLimit,
        limit: format!("{} rpm ({tier})", limit.per_minute),
        retry_after_ms: (retry_after_ms != RETRY_NEVER_MS).then_some(retry_after_ms as i64),
    })
}

/// The throttled outcome of a request over its company's monthly limit; retry when the next
/// month begins.
pub(crate) fn over_budget(submitted: &AiRequestSubmitted, refused: &Refused) -> Event {
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

/// The throttled outcome of a request every step of whose chain was refused by its cloud
/// projects' daily provider quotas (`failures` names each); retry when the next UTC day begins.
pub(crate) fn over_quota(submitted: &AiRequestSubmitted, failures: &[String]) -> Event {
    let now = chrono::Utc::now();
    let retry_after = trestle_quota::until_next_day(now);
    Event::AiRequestThrottled(AiRequestThrottled {
        meta: Meta::caused_by(&submitted.meta),
        request_id: submitted.request_id,
        reason: ThrottleReason::ProviderQuota,
        limit: format!("daily provider quotas reached: {}", failures.join("; ")),
        retry_after_ms: Some(retry_after.as_millis() as i64),
    })
}
