//! Per-company rate limits by tier, shared by every engine instance through Redis.
//!
//! The first rung of the noisy-neighbour ladder (an invariant in docs/ARCHITECTURE.md): one
//! atomic Redis script per decision, one round trip, so a company gets its tier's rate however
//! many engine instances serve it.
//!
//! ```no_run
//! # async fn demo(company_id: uuid::Uuid) -> Result<(), Box<dyn std::error::Error>> {
//! use trestle_ratelimit::{Decision, RateLimitOptions, RateLimiter, Tier};
//! use trestle_redis::RedisOptions;
//! use trestle_tiers::TierTable;
//!
//! let redis = RedisOptions::default().connect().await?;
//! let limiter = RateLimiter::new(redis, &TierTable::default(), RateLimitOptions::default())?;
//! match limiter.check(company_id, limiter.tier_limit(Tier::Professional)).await {
//!     Decision::Allowed { .. } => { /* serve it */ }
//!     Decision::Limited { retry_after_ms, .. } => { /* next rung of the ladder */ }
//! }
//! # Ok(()) }
//! ```
//!
//! # Limits
//!
//! A [`Limit`] is a sustained rate (`per_minute`) and a `burst`. A tier's rate is its
//! `requests_per_minute` in the tier table (`trestle_tiers::TierTable`; defaults starter 10,
//! professional 30, premium 60, enterprise 120), given to [`RateLimiter::new`]; its burst is
//! `max(1, round(per_minute × burst_fraction))`, by default a sixth of a minute's worth (2, 5,
//! 10, 20). Per-company overrides are just another [`Limit`] the caller passes. A fresh (or long
//! idle) company may make exactly `burst` requests at one instant; after that one request per
//! interval (`60 s / per_minute`, rounded up to a microsecond). Over any window of `w` minutes a
//! company gets at most `burst + w × per_minute` requests. A limit of zero (either field) allows
//! nothing.
//!
//! # The algorithm (GCRA) in words
//!
//! Redis keeps one number per company under `{key_prefix}{key_scope}rl:{company_id}`: its *theoretical
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
//! `timeout_ms` (default 50; these are the shared `trestle_redis::RedisOptions`), the decision is made by a **local GCRA** in this instance's memory
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
pub use limit::{Decision, Limit, Source, DEFAULT_BURST_FRACTION, RETRY_NEVER_MS};
pub use options::RateLimitOptions;
pub use telemetry::names;
use trestle_redis::{Health, Redis, Trouble};
/// The subscription tier (trestle-tiers; the event contract's converts into it).
pub use trestle_tiers::Tier;
use trestle_tiers::{PerTier, TierTable};
use uuid::Uuid;

use crate::gcra::{Params, Verdict};
use crate::local::LocalGcra;
use crate::redis::RedisGcra;

/// Now, on tokio's clock: the real one, or a test's paused one.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
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
            .field("key_prefix", &self.inner.key_prefix)
            .finish_non_exhaustive()
    }
}

struct Inner {
    redis: RedisGcra,
    local: LocalGcra,
    health: Health,
    /// For logs, password hidden.
    redis_url: String,
    /// `{key_prefix}{key_scope}`.
    key_prefix: String,
    fallback_instances: u32,
    /// Each tier's limit.
    tier_limits: PerTier<Limit>,
}

impl RateLimiter {
    /// A limiter on `redis` (the shared connection; its options say where keys go and how the
    /// fallback shares limits) with `tiers`' rates. Fails only for invalid options; a Redis that
    /// is not connected means the limiter starts in fallback.
    pub fn new(
        redis: Redis,
        tiers: &TierTable,
        options: RateLimitOptions,
    ) -> Result<RateLimiter, Error> {
        options.validate()?;
        let health = Health::new(redis.probe_interval());
        let redis_url = redis.redacted_url().to_owned();
        let fallback_instances = redis.options().fallback_instances;
        if !redis.is_connected() {
            health.failed(now());
            telemetry::redis_outage_began(&redis_url, fallback_instances, &Trouble::NotConnected);
        }
        let tier_limits = tiers
            .requests_per_minute()
            .map(|&rpm| Limit::with_burst_fraction(rpm, options.burst_fraction));
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                key_prefix: format!("{}{}", redis.options().key_prefix, options.key_scope),
                redis: RedisGcra::new(redis),
                local: LocalGcra::new(),
                health,
                redis_url,
                fallback_instances,
                tier_limits,
            }),
        })
    }

    /// The tier's limit: its rate in the tier table, with the configured `burst_fraction`.
    pub fn tier_limit(&self, tier: Tier) -> Limit {
        *self.inner.tier_limits.get(tier)
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
        if inner.health.should_try_redis(now()) {
            let key = format!("{}rl:{}", inner.key_prefix, company_id.hyphenated());
            match inner.redis.decide(&key, params, n).await {
                Ok(verdict) => {
                    if let Some(outage) = inner.health.succeeded(now()) {
                        inner.local.clear();
                        telemetry::redis_outage_ended(&inner.redis_url, outage);
                    }
                    return decision(verdict, Source::Redis);
                }
                Err(trouble) => {
                    if inner.health.failed(now()) {
                        let instances = inner.fallback_instances;
                        telemetry::redis_outage_began(&inner.redis_url, instances, &trouble);
                    }
                }
            }
        }
        let share = params.share(inner.fallback_instances);
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
