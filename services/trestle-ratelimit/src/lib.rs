//! Per-company rate limits by tier, shared by every engine instance through Redis.
//!
//! The first rung of the noisy-neighbour ladder (an invariant in docs/ARCHITECTURE.md): one
//! atomic Redis script per decision, one round trip, so a company gets its tier's rate however
//! many engine instances serve it.
//!
//! ```no_run
//! # async fn demo(company_id: uuid::Uuid) -> Result<(), trestle_ratelimit::Error> {
//! use trestle_ratelimit::{Decision, RateLimitOptions, Tier};
//!
//! let limiter = RateLimitOptions::default().build().await?;
//! match limiter.check(company_id, limiter.tier_limit(Tier::Professional)).await {
//!     Decision::Allowed { .. } => { /* serve it */ }
//!     Decision::Limited { retry_after_ms, .. } => { /* next rung of the ladder */ }
//! }
//! # Ok(()) }
//! ```
//!
//! # Limits
//!
//! A [`Limit`] is a sustained rate (`per_minute`) and a `burst`. Tiers: starter 10, professional
//! 30, premium 60, enterprise 120 per minute ([`tier_per_minute`]); their burst is
//! `max(1, round(per_minute × burst_fraction))`, by default a sixth of a minute's worth (2, 5,
//! 10, 20). Per-company overrides are just another [`Limit`] the caller passes. A fresh (or long
//! idle) company may make exactly `burst` requests at one instant; after that one request per
//! interval (`60 s / per_minute`, rounded up to a microsecond). Over any window of `w` minutes a
//! company gets at most `burst + w × per_minute` requests. A limit of zero (either field) allows
//! nothing.
//!
//! # The algorithm (GCRA) in words
//!
//! Redis keeps one number per company under `{key_prefix}rl:{company_id}`: its *theoretical
//! arrival time* (TAT), the instant at which the company would be back on schedule had each of
//! its granted requests arrived exactly one interval after the previous one. The script, given
//! the interval, the burst and the cost `n` of the request:
//!
//! 1. reads the clock of the Redis server (`TIME`), so instances whose clocks disagree still
//!    agree on the limit;
//! 2. reads the TAT; a missing key or a TAT in the past counts as "now" (a full allowance);
//! 3. the request would push the TAT to `TAT + n × interval`; it is allowed if that is at most
//!    `burst × interval` ahead of now, i.e. if the company is not more than its burst ahead of
//!    schedule;
//! 4. if allowed, stores the new TAT with an expiry (`PX`) at the moment it falls back to "now":
//!    from then on a missing key means the same as the stored one, so idle companies leave no
//!    keys behind; it answers how many more requests fit right now;
//! 5. if limited, writes nothing and answers how long until the request would fit:
//!    `new TAT − burst × interval − now`.
//!
//! All in one script, so Redis runs it atomically: two instances cannot both take the last
//! request. `n` larger than the burst can never fit and is answered "never"
//! ([`RETRY_NEVER_MS`]); `n = 0` only looks.
//!
//! # When Redis does not answer
//!
//! A decision never fails and never panics. If Redis cannot be reached, errs or takes longer than
//! `timeout_ms` (default 50), the decision is made by a **local GCRA** in this instance's memory
//! with its share of the limit: the rate divided by `fallback_instances` and the burst divided
//! likewise (rounded down, at least 1). [`Decision::source`] says which one decided. The outage is
//! logged as a warning and counted in `trestle_ratelimit_redis_outages_total` once when it begins,
//! not per decision. During the outage, one decision per `probe_interval_ms` tries Redis (the
//! others go straight to the local GCRA, without waiting); the first that succeeds ends the
//! outage (logged at info) and the local state is dropped. Redis being down when the limiter is
//! built is not an error either: it starts in fallback.
//!
//! Trade-off, accepted: during an outage the per-instance shares add up to the limit only if
//! `fallback_instances` matches the instances actually running, and a decision that timed out
//! against a hung (not down) Redis may still be applied there later.

mod error;
mod gcra;
mod limit;
mod local;
mod options;
mod redis;
mod telemetry;

use std::sync::Arc;
use std::time::Instant;

pub use error::Error;
pub use limit::{tier_per_minute, Decision, Limit, Source, DEFAULT_BURST_FRACTION, RETRY_NEVER_MS};
pub use options::RateLimitOptions;
pub use telemetry::names;
/// The subscription tier of the event contract.
pub use trestle_events::Tier;
use trestle_redis::Health;
use uuid::Uuid;

use crate::gcra::{Params, Verdict};
use crate::local::LocalGcra;
use crate::redis::RedisGcra;

impl RateLimitOptions {
    /// Validates the options, creates the Redis client and waits up to `connect_timeout_ms` for
    /// its first connection. Fails only for invalid options; an unreachable Redis means the
    /// limiter starts in fallback and keeps reconnecting. Needs a Tokio runtime.
    pub async fn build(self) -> Result<RateLimiter, Error> {
        self.validate()?;
        let (redis, trouble) = RedisGcra::connect(&self).await?;
        let health = Health::new(std::time::Duration::from_millis(self.probe_interval_ms));
        let redis_url = trestle_redis::redacted(&self.redis_url);
        if let Some(trouble) = trouble {
            health.failed(Instant::now());
            telemetry::redis_outage_began(&redis_url, self.fallback_instances, &trouble);
        }
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                redis,
                local: LocalGcra::new(),
                health,
                redis_url,
                options: self,
            }),
        })
    }
}

/// Decides whether a company may make a request now. Cheap to clone; clones share the
/// connection, the outage state and the local fallback.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("redis_url", &self.inner.redis_url)
            .field("key_prefix", &self.inner.options.key_prefix)
            .finish_non_exhaustive()
    }
}

struct Inner {
    redis: RedisGcra,
    local: LocalGcra,
    health: Health,
    /// For logs, password hidden.
    redis_url: String,
    options: RateLimitOptions,
}

impl RateLimiter {
    /// The tier's limit with the configured `burst_fraction`.
    pub fn tier_limit(&self, tier: Tier) -> Limit {
        Limit::for_tier(tier, self.inner.options.burst_fraction)
    }

    /// Decides one request of `company_id` under `limit`, and counts it if allowed.
    pub async fn check(&self, company_id: Uuid, limit: Limit) -> Decision {
        self.check_n(company_id, limit, 1).await
    }

    /// Decides a batch of `n` requests at once (all or none); `n = 0` only looks. `n` larger
    /// than the limit's burst is never allowed ([`RETRY_NEVER_MS`]).
    pub async fn check_n(&self, company_id: Uuid, limit: Limit, n: u32) -> Decision {
        let inner = &*self.inner;
        let params = Params::from_limit(limit);
        if inner.health.should_try_redis(Instant::now()) {
            let key = format!("{}rl:{}", inner.options.key_prefix, company_id.hyphenated());
            match inner.redis.decide(&key, params, n).await {
                Ok(verdict) => {
                    if let Some(outage) = inner.health.succeeded(Instant::now()) {
                        inner.local.clear();
                        telemetry::redis_outage_ended(&inner.redis_url, outage);
                    }
                    return decision(verdict, Source::Redis);
                }
                Err(trouble) => {
                    if inner.health.failed(Instant::now()) {
                        let instances = inner.options.fallback_instances;
                        telemetry::redis_outage_began(&inner.redis_url, instances, &trouble);
                    }
                }
            }
        }
        let share = params.share(inner.options.fallback_instances);
        decision(
            inner.local.decide(company_id, share, n),
            Source::LocalFallback,
        )
    }
}

fn decision(verdict: Verdict, source: Source) -> Decision {
    let decision = match verdict {
        Verdict::Allowed { remaining } => Decision::Allowed { remaining, source },
        Verdict::Limited { retry_after_us } => Decision::Limited {
            retry_after_ms: retry_after_us.map_or(RETRY_NEVER_MS, |us| us.div_ceil(1000)),
            source,
        },
    };
    telemetry::decided(source, decision.is_allowed());
    decision
}
