//! Each company's monthly AI query and cost limits, enforced before an AI provider is called.
//!
//! A call first **reserves** one query and its estimated cost; only if that fits does it go to
//! the provider. Afterwards it **settles** the reservation with the actual cost, or **releases**
//! it if the call failed. Every step is one atomic Redis script (one round trip), shared by all
//! engine instances, so concurrent calls can never overshoot a limit by more than what is
//! reserved in flight — and what is reserved counts against the limit too, so while Redis
//! answers a limit is only ever crossed by actual costs above their estimates (and by calls
//! that outlived their reservation's ttl and settle afterwards).
//!
//! ```no_run
//! # async fn demo(company_id: uuid::Uuid) -> Result<(), Box<dyn std::error::Error>> {
//! use trestle_budget::{BudgetOptions, Budgets, Month, Overrides, Tier};
//! use trestle_redis::RedisOptions;
//! use trestle_tiers::TierTable;
//!
//! let redis = RedisOptions::default().connect().await?;
//! let budgets = Budgets::new(redis, &TierTable::default(), BudgetOptions::default())?;
//! let limits = budgets.limits_for(Tier::Professional, &Overrides::default());
//! match budgets.reserve(company_id, Month::current_utc(), limits, 2_000).await {
//!     Ok(reservation) => {
//!         // call the provider, then:
//!         budgets.settle(&reservation, 1_730).await;
//!     }
//!     Err(refused) => { /* tell the user: refused.to_string() */ }
//! }
//! # Ok(()) }
//! ```
//!
//! # Limits
//!
//! [`MonthlyLimits`]: queries and cost (micro-USD) per calendar month (UTC), each optional
//! (unlimited). [`Budgets::limits_for`] gives a tier's allowance from the tier table
//! (`trestle_tiers::TierTable`, defaults [`tier_default`]: the seed's AI cost per tier, $20 /
//! $50 / $80 / $150, and 240 queries per dollar of it, 4,800 / 12,000 / 19,200 / 36,000) with a
//! company's [`Overrides`].
//!
//! # In Redis
//!
//! A company's month is the hash `{key_prefix}budget:{company_id}:{YYYY-MM}` (`queries_used`,
//! `queries_reserved`, `cost_spent`, `cost_reserved`) and two sorted sets beside it, `…:open`
//! (open reservations, member `{id}:{estimate}`, scored by their expiry) and `…:done` (ids
//! settled or released, scored by when they were reserved). No key spans two companies or two
//! months. All three expire `month_key_ttl_ms` (40 days) after their last write, so old months
//! vanish. Every call of the script (`budget.lua`) first reads the Redis server clock and:
//!
//! 1. **reclaims leaked holds**: open reservations whose expiry (`reserved_at +
//!    reservation_ttl_ms`, default 2 minutes) has passed — their engine crashed mid-call — are
//!    removed and their query and estimate taken off the reserved counts. A sorted set scored by
//!    expiry makes this a range query, with no timer and no scan; it runs on every call of the
//!    company's month, so a leak is reclaimed by the next call after its ttl (or by
//!    [`Budgets::usage`]).
//! 2. **reserve**: refuses if `queries_used + queries_reserved + 1` would exceed the query limit,
//!    or `cost_spent + cost_reserved + estimate` the cost limit; otherwise adds one query and
//!    the estimate to the reserved counts and the reservation to `…:open`.
//! 3. **settle / release**: counts once per reservation id. An id in `…:done` changes nothing
//!    ([`Completion::AlreadyDone`]). Otherwise, if the reservation is still open its hold is
//!    given back; a settle then adds one query and the actual cost to the used counts, even if
//!    the hold had been reclaimed (the money was spent). The id goes to `…:done`. Ids are
//!    remembered for `settle_window_ms` (default 1 hour) after their reservation; a settle or
//!    release later than that is ignored ([`Completion::TooLate`], logged), since it could no
//!    longer be told from a repeat.
//!
//! # When Redis does not answer
//!
//! Nothing fails and nothing panics. If Redis cannot be reached, errs or takes longer than
//! `timeout_ms` (default 50; these are the shared `trestle_redis::RedisOptions`), this instance answers on its own (**fail open, within a share**):
//!
//! - **reserve** grants from this instance's share of what is left: `remaining /
//!   fallback_instances` of each limit, `remaining` being `limit − used − reserved` as this
//!   instance last saw it from Redis, or `fallback_unseen_percent` (default 10 %) of the limit
//!   for a company-month it has not seen. Beyond its share it refuses
//!   ([`Source::LocalFallback`]). Worst case over an outage: the instances together grant what
//!   was left at their last sight (plus the unseen percentage for companies none had seen), so
//!   the overshoot is bounded by one instance's stale view, not by the outage's length.
//! - **settle / release** are applied to the local share and **queued** ([`Completion::Queued`],
//!   at most `fallback_max_queued`, oldest dropped with a warning); when Redis answers again
//!   they are sent to it in order (the script counts each once, a fallback grant included),
//!   so spend during an outage is not lost.
//!
//! The outage is logged as a warning and counted in `trestle_budget_redis_outages_total` once
//! when it begins. During it one call per `probe_interval_ms` tries Redis, the others answer
//! locally without waiting; the first success ends it (logged at info), forgets the outage's
//! local grants and sends the queue. Redis down when the handle is built is not an error: it
//! starts in fallback.
//!
//! Trade-offs, accepted: the shares add up only if `fallback_instances` matches the instances
//! running; a reserve that timed out against a hung (not down) Redis may still be applied there
//! and then holds room until its ttl; `settle_window_ms` is measured from this machine's clock
//! for a fallback grant.

mod error;
mod limits;
mod local;
mod options;
mod outcome;
mod redis;
mod script;
mod telemetry;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use error::Error;
pub use limits::{tier_default, Month, MonthlyLimits, Overrides};
pub use options::BudgetOptions;
pub use outcome::{Completion, LimitKind, Refused, Reservation, Source, Usage};
pub use telemetry::names;
use trestle_redis::{Health, Redis, Trouble};
/// The subscription tier (trestle-tiers; the event contract's converts into it).
pub use trestle_tiers::Tier;
use trestle_tiers::{PerTier, TierTable};
pub use trestle_tiers::{DEFAULT_QUERIES_PER_USD, MICRO_USD_PER_USD};
use uuid::Uuid;

use crate::local::{Local, Share};
use crate::redis::RedisBudget;
use crate::script::{Call, Reply, Scope, Status};

/// Now, on tokio's clock: the real one, or a test's paused one.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Queued completions sent to Redis per batch after an outage.
const FLUSH_BATCH: usize = 64;

/// Monthly budgets of every company. Cheap to clone; clones share the connection, the outage
/// state and the fallback.
#[derive(Clone)]
pub struct Budgets {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets")
            .field("redis_url", &self.inner.redis_url)
            .field("key_prefix", &self.inner.key_prefix)
            .finish_non_exhaustive()
    }
}

struct Inner {
    redis: RedisBudget,
    local: Local,
    health: Health,
    /// For logs, password hidden.
    redis_url: String,
    /// Whether a task is sending queued completions to Redis.
    flushing: AtomicBool,
    /// The shared Redis key prefix.
    key_prefix: String,
    fallback_instances: u32,
    /// Each tier's monthly allowance, from the tier table.
    tier_limits: PerTier<MonthlyLimits>,
    options: BudgetOptions,
}

impl Inner {
    fn scope(&self) -> Scope<'_> {
        Scope {
            key_prefix: &self.key_prefix,
            options: &self.options,
        }
    }
}

impl Budgets {
    /// Budgets on `redis` (the shared connection; its options say where keys go, how long a
    /// call may wait and how the fallback shares limits) with `tiers`' monthly allowances.
    /// Fails only for invalid options; a Redis that is not connected means the handle starts
    /// in fallback. Needs a Tokio runtime.
    pub fn new(redis: Redis, tiers: &TierTable, options: BudgetOptions) -> Result<Budgets, Error> {
        options.validate()?;
        tiers.validate()?;
        let health = Health::new(redis.probe_interval());
        let redis_url = redis.redacted_url().to_owned();
        let fallback_instances = redis.options().fallback_instances;
        if !redis.is_connected() {
            health.failed(now());
            telemetry::redis_outage_began(&redis_url, fallback_instances, &Trouble::NotConnected);
        }
        Ok(Budgets {
            inner: Arc::new(Inner {
                key_prefix: redis.options().key_prefix.clone(),
                redis: RedisBudget::new(redis),
                local: Local::new(options.fallback_max_queued),
                health,
                redis_url,
                flushing: AtomicBool::new(false),
                fallback_instances,
                tier_limits: limits::tier_limits(tiers),
                options,
            }),
        })
    }

    /// The tier's limits in the tier table with the company's overrides.
    pub fn limits_for(&self, tier: Tier, overrides: &Overrides) -> MonthlyLimits {
        limits::limits_for(&self.inner.tier_limits, tier, overrides)
    }

    /// Holds one query and `estimate_micro_usd` of `company_id`'s `month` if both fit under
    /// `limits`; otherwise says which limit is reached. A negative estimate counts as zero.
    pub async fn reserve(
        &self,
        company_id: Uuid,
        month: Month,
        limits: MonthlyLimits,
        estimate_micro_usd: i64,
    ) -> Result<Reservation, Refused> {
        let inner = &self.inner;
        let estimate = non_negative("estimate_micro_usd", estimate_micro_usd);
        let id = Uuid::new_v4();
        let reservation = |reserved_at_ms, source| Reservation {
            id,
            company_id,
            month,
            estimate_micro_usd: estimate,
            reserved_at_ms,
            source,
        };
        let refused = |which, usage: (i64, i64), source| {
            let limit = match which {
                LimitKind::Queries => limits
                    .queries
                    .map_or(i64::MAX, |q| i64::try_from(q).unwrap_or(i64::MAX)),
                LimitKind::Cost => limits.cost_micro_usd.unwrap_or(i64::MAX),
            };
            Refused {
                company_id,
                month,
                which,
                limit,
                used: usage.0,
                reserved: usage.1,
                tier: limits.tier,
                source,
            }
        };
        let call = Call::reserve(&inner.scope(), company_id, month, id, limits, estimate);
        let outcome = match self.redis(&call).await {
            Some(reply) => {
                inner.local.saw(company_id, month, reply.usage);
                let usage = reply.usage;
                match reply.status {
                    Status::Refused(LimitKind::Queries) => Err(refused(
                        LimitKind::Queries,
                        (usage.queries_used, usage.queries_reserved),
                        Source::Redis,
                    )),
                    Status::Refused(LimitKind::Cost) => Err(refused(
                        LimitKind::Cost,
                        (usage.cost_spent_micro_usd, usage.cost_reserved_micro_usd),
                        Source::Redis,
                    )),
                    _ => Ok(reservation(reply.now_ms, Source::Redis)),
                }
            }
            None => {
                let share = Share {
                    instances: inner.fallback_instances,
                    unseen_percent: inner.options.fallback_unseen_percent,
                };
                match inner
                    .local
                    .reserve(company_id, month, limits, estimate, share)
                {
                    Ok(()) => Ok(reservation(wall_clock_ms(), Source::LocalFallback)),
                    Err(short) => Err(refused(
                        short.which,
                        (short.used, short.reserved),
                        Source::LocalFallback,
                    )),
                }
            }
        };
        match &outcome {
            Ok(r) => telemetry::reserved(r.source, None),
            Err(r) => telemetry::reserved(r.source, Some(r.which)),
        }
        outcome
    }

    /// The call succeeded and cost `actual_micro_usd`: gives the reservation's hold back and
    /// counts one query and the actual cost. Counts once per reservation, however often it is
    /// called. A negative cost counts as zero.
    pub async fn settle(&self, reservation: &Reservation, actual_micro_usd: i64) -> Completion {
        let actual = non_negative("actual_micro_usd", actual_micro_usd);
        self.complete(reservation, Some(actual)).await
    }

    /// The call failed (nothing spent): gives the reservation's hold back. Once per
    /// reservation, however often it is called.
    pub async fn release(&self, reservation: &Reservation) -> Completion {
        self.complete(reservation, None).await
    }

    /// `company_id`'s `month` as Redis holds it, after reclaiming expired holds. Fails if Redis
    /// does not answer (there is no shared truth to give).
    pub async fn usage(&self, company_id: Uuid, month: Month) -> Result<Usage, Error> {
        let call = Call::peek(&self.inner.scope(), company_id, month);
        match self.redis(&call).await {
            Some(reply) => {
                self.inner.local.saw(company_id, month, reply.usage);
                Ok(reply.usage)
            }
            None => Err(Error::Unavailable {
                redis_url: self.inner.redis_url.clone(),
                key: call.keys[0].clone(),
                reason: if self.inner.health.is_up() {
                    "no answer".into()
                } else {
                    "Redis is in an outage".into()
                },
            }),
        }
    }

    async fn complete(&self, reservation: &Reservation, actual: Option<i64>) -> Completion {
        let inner = &self.inner;
        let completion = match self.complete_in_redis(reservation, actual).await {
            Some(completion) => completion,
            None => {
                let (completion, dropped) = inner.local.complete(reservation, actual);
                if dropped > 0 {
                    telemetry::queued_dropped(dropped, inner.options.fallback_max_queued);
                }
                completion
            }
        };
        telemetry::completed(actual.is_some(), completion);
        completion
    }

    /// A settle (`Some(actual)`) or release on Redis; `None` if Redis did not answer.
    async fn complete_in_redis(
        &self,
        reservation: &Reservation,
        actual: Option<i64>,
    ) -> Option<Completion> {
        let inner = &self.inner;
        let call = Call::complete(&inner.scope(), reservation, actual);
        let reply = self.redis(&call).await?;
        inner
            .local
            .saw(reservation.company_id, reservation.month, reply.usage);
        Some(match reply.status {
            Status::AlreadyDone => Completion::AlreadyDone,
            Status::TooLate => {
                if actual.is_some() {
                    telemetry::too_late(inner.options.settle_window_ms, reservation.reserved_at_ms);
                }
                Completion::TooLate
            }
            _ => Completion::Applied,
        })
    }

    /// Runs `call` on Redis unless an outage says not to try now; tracks the outage. `None`:
    /// Redis did not answer.
    async fn redis(&self, call: &Call) -> Option<Reply> {
        let inner = &self.inner;
        if !inner.health.should_try_redis(now()) {
            return None;
        }
        match inner.redis.run(call).await {
            Ok(reply) => {
                if let Some(outage) = inner.health.succeeded(now()) {
                    inner.local.outage_ended();
                    telemetry::redis_outage_ended(&inner.redis_url, outage);
                }
                telemetry::reclaimed(reply.reclaimed);
                if inner.local.has_queued() {
                    self.spawn_flush();
                }
                Some(reply)
            }
            Err(trouble) => {
                if inner.health.failed(now()) {
                    let instances = inner.fallback_instances;
                    telemetry::redis_outage_began(&inner.redis_url, instances, &trouble);
                }
                None
            }
        }
    }

    /// Sends the completions queued during an outage to Redis, in order, in the background;
    /// one task at a time. What Redis does not take goes back in front of the queue.
    fn spawn_flush(&self) {
        if self.inner.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let budgets = self.clone();
        tokio::spawn(async move {
            let inner = &budgets.inner;
            loop {
                let batch = inner.local.take_queued(FLUSH_BATCH);
                if batch.is_empty() {
                    break;
                }
                for (i, queued) in batch.iter().enumerate() {
                    let completion = budgets
                        .complete_in_redis(&queued.reservation, queued.actual_micro_usd)
                        .await;
                    if completion.is_none() {
                        inner.local.requeue(batch[i..].to_vec());
                        inner.flushing.store(false, Ordering::Release);
                        return;
                    }
                }
            }
            inner.flushing.store(false, Ordering::Release);
        });
    }
}

fn non_negative(what: &'static str, micro_usd: i64) -> i64 {
    if micro_usd < 0 {
        telemetry::negative_amount(what, micro_usd);
        0
    } else {
        micro_usd
    }
}

/// This machine's clock, ms since the Unix epoch (for fallback grants only).
fn wall_clock_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
