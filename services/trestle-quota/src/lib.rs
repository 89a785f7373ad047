//! Daily provider quotas per cloud project (the seed's `notebooklm_requests_today` and
//! `gemini_requests_today`), enforced live: before a provider call the engine takes one request
//! from the counter of (cloud project, provider, UTC day); a counter at its limit refuses, and the
//! engine fails the call over to another project or throttles the request
//! (`ThrottleReason::ProviderQuota`).
//!
//! One counter is one Redis string `{key_prefix}quota:{project}:{provider}:{yyyy-mm-dd}`, shared by
//! every engine instance of the region; `quota.lua` takes, gives back or raises it in one atomic
//! round trip. A call that failed gives its request back, so a counter counts the calls a
//! provider answered — what the pool projection counts from `AiRequestCompleted`
//! (`cloud_project_requests_daily`). The two reconcile: a crash between a call and its commit
//! leaves the counter one above the projection (the redone call counts again: the provider did
//! answer twice), and a Redis that lost its data is raised back to the projection with
//! [`Quotas::raise_to`] (`trestle-admin project quotas --reconcile`). While Redis does not answer,
//! calls go ahead unchecked (counted in `trestle_quota_decisions_total{outcome="unchecked"}`): a
//! quota protects a provider's limit, and refusing every call during a Redis outage would be an
//! outage of our own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use trestle_redis::{Health, Redis, Script, Trouble, Value};

/// The script, loaded at compile time so its SHA-1 is known without a round trip.
const SCRIPT: &str = include_str!("quota.lua");

/// Daily provider quotas of every cloud project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaOptions {
    /// Off: no quota is enforced. Default on.
    pub enabled: bool,
    /// Requests one cloud project may make of a provider per UTC day, by provider name (the
    /// chains' `provider`). A provider not listed has no quota. Default: `notebooklm` 100,000,
    /// `gemini` 500,000.
    pub requests_per_day: BTreeMap<String, u64>,
    /// How long a day's counter is kept after its last write, so yesterday's can still be read
    /// and reconciled. Default 2 days.
    pub day_key_ttl_ms: u64,
}

impl Default for QuotaOptions {
    fn default() -> Self {
        QuotaOptions {
            enabled: true,
            requests_per_day: [("notebooklm".into(), 100_000), ("gemini".into(), 500_000)]
                .into_iter()
                .collect(),
            day_key_ttl_ms: 2 * 24 * 3_600_000,
        }
    }
}

/// Why a counter could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("quota counter {key}: Redis did not answer ({trouble}); check that Redis runs and [redis] redis_url points at it")]
    Redis { key: String, trouble: String },
}

/// The answer to a call that asks for one request of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Taken: the counter is now at `used`.
    Granted { used: u64 },
    /// The counter is at its `limit`: no call of this provider from this project today.
    Exhausted { limit: u64 },
    /// The provider has no quota (or quotas are off).
    Unlimited,
    /// Redis did not answer: the call goes ahead uncounted.
    Unchecked,
}

impl Take {
    /// Whether the call may go ahead.
    pub fn allows(self) -> bool {
        !matches!(self, Take::Exhausted { .. })
    }

    /// Whether a request was taken from a counter (and must be given back if the call fails).
    pub fn counted(self) -> bool {
        matches!(self, Take::Granted { .. })
    }
}

/// The quota counters on the region's Redis. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Quotas {
    redis: Redis,
    script: Arc<Script>,
    options: Arc<QuotaOptions>,
    health: Arc<Health>,
}

impl Quotas {
    /// Counters on `redis` (its `key_prefix` starts every key).
    pub fn new(redis: Redis, options: QuotaOptions) -> Quotas {
        let health = Arc::new(Health::new(redis.probe_interval()));
        Quotas {
            redis,
            script: Arc::new(Script::new(SCRIPT)),
            options: Arc::new(options),
            health,
        }
    }

    /// The daily limit of `provider` per project, if it has one.
    pub fn limit(&self, provider: &str) -> Option<u64> {
        if !self.options.enabled {
            return None;
        }
        self.options.requests_per_day.get(provider).copied()
    }

    /// Providers that have a quota, with their daily limits.
    pub fn limits(&self) -> impl Iterator<Item = (&str, u64)> {
        let on = self.options.enabled;
        (self.options.requests_per_day.iter())
            .filter(move |_| on)
            .map(|(provider, limit)| (provider.as_str(), *limit))
    }

    /// The Redis key of one counter. **Never change** the format without migrating live
    /// counters: engines of two builds must count on the same key.
    pub fn key(&self, project: &str, provider: &str, day: NaiveDate) -> String {
        let prefix = &self.redis.options().key_prefix;
        format!(
            "{prefix}quota:{project}:{provider}:{}",
            day.format("%Y-%m-%d")
        )
    }

    /// Takes one request of `provider` from `project`'s counter of `day`.
    pub async fn take(&self, project: &str, provider: &str, day: NaiveDate) -> Take {
        let Some(limit) = self.limit(provider) else {
            return Take::Unlimited;
        };
        if !self.health.should_try_redis(Instant::now()) {
            trestle_telemetry::quota_decision(provider, "unchecked");
            return Take::Unchecked;
        }
        match self.run(project, provider, day, "take", limit).await {
            Ok([1, used]) => {
                trestle_telemetry::quota_decision(provider, "granted");
                Take::Granted { used: used as u64 }
            }
            Ok(_) => {
                trestle_telemetry::quota_decision(provider, "exhausted");
                Take::Exhausted { limit }
            }
            Err(_) => {
                trestle_telemetry::quota_decision(provider, "unchecked");
                Take::Unchecked
            }
        }
    }

    /// Gives back a request taken for a call that failed (best effort: a counter left one high
    /// refuses one call too early, never one too late).
    pub async fn give_back(&self, project: &str, provider: &str, day: NaiveDate) {
        if self.limit(provider).is_some() {
            let _ = self.run(project, provider, day, "give_back", 0).await;
        }
    }

    /// Requests counted on `project`'s counter of `provider` for `day`.
    pub async fn used(&self, project: &str, provider: &str, day: NaiveDate) -> Result<u64, Error> {
        let key = self.key(project, provider, day);
        match self.redis.get(&key).await {
            Ok(value) => Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0)),
            Err(trouble) => Err(redis_error(key, trouble)),
        }
    }

    /// Raises the counter to `count` if it is lower (never lowers it: calls in flight would be
    /// forgotten); the counter after.
    pub async fn raise_to(
        &self,
        project: &str,
        provider: &str,
        day: NaiveDate,
        count: u64,
    ) -> Result<u64, Error> {
        let [_, after] = self.run(project, provider, day, "raise_to", count).await?;
        Ok(after as u64)
    }

    /// One call of the script on the counter; its reply `[granted, count]`.
    async fn run(
        &self,
        project: &str,
        provider: &str,
        day: NaiveDate,
        op: &'static str,
        n: u64,
    ) -> Result<[i64; 2], Error> {
        let key = self.key(project, provider, day);
        let args = [
            Value::from(op),
            Value::from(i64::try_from(n).unwrap_or(i64::MAX)),
            Value::from(i64::try_from(self.options.day_key_ttl_ms).unwrap_or(i64::MAX)),
        ];
        let reply = match self.redis.run(&self.script, &[&key], &args).await {
            Ok(reply) => reply,
            Err(trouble) => {
                if self.health.failed(Instant::now()) {
                    tracing::warn!(message = "Quota counters cannot reach Redis; provider calls go ahead unchecked until it answers.", %trouble);
                    trestle_telemetry::quota_redis_outage();
                }
                return Err(redis_error(key, trouble));
            }
        };
        if let Some(down) = self.health.succeeded(Instant::now()) {
            let down_ms = down.as_millis() as u64;
            tracing::info!(message = "Quota counters reach Redis again.", down_ms);
        }
        match reply.as_slice() {
            &[granted, count] => Ok([granted, count]),
            _ => Err(redis_error(key, Trouble::Reply(reply))),
        }
    }
}

fn redis_error(key: String, trouble: Trouble) -> Error {
    Error::Redis {
        key,
        trouble: trouble.to_string(),
    }
}

/// Time until the next UTC midnight after `now`: when every daily quota starts again.
pub fn until_next_day(now: chrono::DateTime<chrono::Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    let midnight = tomorrow.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    midnight
        .map(|m| (m - now).to_std().unwrap_or_default())
        .unwrap_or_default()
}
