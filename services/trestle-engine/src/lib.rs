//! The AI request workflow engine, on the workflow runtime (`trestle-workflow`).
//!
//! It consumes `AiRequestSubmitted` from `ai-requests` (read_committed), queues each record per
//! company in a fair scheduler (deficit round-robin by tier, per-company caps, one record per
//! ordering key in flight), serves what the scheduler dispatches — rate limit and
//! noisy-neighbour ladder, provider chain behind circuit breakers (a `notebook_query` about a
//! job routed by the job's state: its notebook, or RAG from its chunks in the company's shard),
//! all-down cache fallback — and publishes the outcome (`ai-outcomes`), the priced usage (`usage`) and breaker
//! transitions (`providers`) together with each partition's commit point in one Kafka
//! transaction (consume-transform-produce). A crash or a rebalance aborts or drops what was not
//! committed, so downstream read_committed consumers see each outcome exactly once; provider
//! calls themselves are at-least-once, and usage carries a permanent idempotency key
//! (request_id + meter) so a redone call is never billed twice.
//!
//! **Architecture invariant:** the engine writes to Kafka only inside a transaction that also
//! carries the commit points of the records whose outputs it holds.

mod answers;
mod cache;
mod calls;
mod chains;
mod claims;
mod directory;
mod error;
mod federation;
mod intake;
mod ladder;
mod outcome;
mod pricing;
mod provider;
mod reservation;
mod retention;
mod routing;
mod serve;
mod worker;

pub use cache::{CacheOptions, ResponseCache};
pub use chains::{Chain, Chains, Step};
pub use directory::{Directory, Standing, Tenant};
pub use error::{ConfigError, Error};
pub use federation::Pool;
pub use pricing::PriceBook;
pub use provider::{ProviderClient, ProviderOptions};
pub use retention::RetentionOptions;
pub use routing::RagOptions;
pub use serve::{CostLimitOptions, LadderOptions, LimitOverride};
pub use trestle_workflow::DispatchMode;
pub use worker::run;

use serde::{Deserialize, Serialize};
use trestle_scheduler::SchedulerOptions;

/// What the engine does with a request of a company that is not provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unprovisioned {
    /// A failed outcome naming the company's standing (not registered; registered, not
    /// provisioned yet): no provider call, no usage.
    Refuse,
    /// Served as a starter in the default project (load tests and benchmarks without
    /// onboarding).
    ServeAsStarter,
}

/// Configuration of the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    pub kafka: trestle_kafka::KafkaOptions,
    /// Consumer group shared by all engine instances.
    pub group_id: String,
    /// This instance's stable identity (e.g. a StatefulSet pod name). It names the
    /// transactional id, so a restarted instance fences its predecessor's open transaction at
    /// once instead of leaving it to time out (which stalls read_committed readers), and it is
    /// the static group membership id, so a restart gets its partitions back without a
    /// rebalance. Empty: a random id per start (fine for throwaway runs).
    pub instance_id: String,
    /// The region this engine serves; companies not in the tenant directory are taken to be here.
    pub region: trestle_events::Region,
    /// Cloud project of companies not (yet) provisioned to one.
    pub default_cloud_project: String,
    /// How long start-up waits for the tenant directory to read the `tenants` topic.
    pub directory_catch_up_ms: u64,
    /// What a request of a company that is not provisioned gets: `refuse` (the default: a
    /// failed outcome naming its standing, no provider call, no usage) or `serve_as_starter`
    /// (for load tests and benchmarks without onboarding).
    pub unprovisioned: Unprovisioned,
    /// How long a request of a company not provisioned yet waits for the directory to read its
    /// provisioning before it is refused.
    pub provisioning_wait_ms: u64,
    /// Longest time between commits (one Kafka transaction each).
    pub commit_interval_ms: u64,
    /// Commit early once this many events wait to be published.
    pub commit_max_records: usize,
    /// On shutdown, how long in-flight requests may finish before the rest is left to be redone.
    pub shutdown_grace_ms: u64,
    /// `fair` (default); `fifo` and `partition_order` are baselines for benchmarks (only with
    /// the `bench` feature).
    pub dispatch: DispatchMode,
    /// Buffer bounds of the fair scheduler; `max_in_flight` is the number of provider calls in
    /// flight at once. Its weights and per-company caps are the tier table's.
    pub scheduler: SchedulerOptions,
    pub ladder: LadderOptions,
    /// What each tier gets: rate limit, scheduler weight and in-flight cap, monthly allowance.
    pub tiers: trestle_tiers::TierTable,
    /// The region's Redis, one connection shared by the rate limits, the monthly cost limits
    /// and the response cache.
    pub redis: trestle_redis::RedisOptions,
    /// The per-company rate limiter (Redis GCRA) of the ladder.
    pub rate_limit: trestle_ratelimit::RateLimitOptions,
    pub cache: CacheOptions,
    /// Monthly query and cost limits per company (Redis reservations).
    pub cost_limits: CostLimitOptions,
    /// Daily provider quotas per cloud project (Redis counters): a project at its quota
    /// fails over to another, or the request is throttled (`provider_quota`).
    pub quotas: trestle_quota::QuotaOptions,
    /// Provider chain per request kind.
    pub chains: Chains,
    /// The shard databases, by shard number (the first is shard 0), as the notebook
    /// workflow's `shards`: a `notebook_query` about a job is routed by the job's state read
    /// from its company's shard (its notebook, or RAG from its chunks). Empty (the default):
    /// not routed; every step of the chain answers from the prompt alone. Read only, as the
    /// tenant; connected on first use, so the engine starts while a shard is down.
    pub shards: Vec<trestle_store::PostgresOptions>,
    /// How RAG answers a job question: chunks given as context, the embeddings endpoint.
    pub rag: RagOptions,
    /// How long answers are kept (`[retention]`: `enabled`, `retention_days`, default 90):
    /// the engine schedules their expiry as durable timers.
    pub retention: RetentionOptions,
    pub breakers: trestle_breaker::BreakersOptions,
    pub provider: ProviderOptions,
    /// Prices until a published price book (`price-books` topic, `trestle-admin price-book
    /// publish`) is in effect; from then on the latest version in effect prices every call.
    pub price_book: PriceBook,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            kafka: Default::default(),
            group_id: "trestle-engine".into(),
            instance_id: String::new(),
            region: trestle_events::Region::Us,
            default_cloud_project: "shared-0".into(),
            directory_catch_up_ms: 30_000,
            unprovisioned: Unprovisioned::Refuse,
            provisioning_wait_ms: 2_000,
            commit_interval_ms: 100,
            commit_max_records: 1000,
            shutdown_grace_ms: 10_000,
            dispatch: DispatchMode::Fair,
            scheduler: SchedulerOptions::default(),
            ladder: Default::default(),
            tiers: Default::default(),
            redis: Default::default(),
            rate_limit: Default::default(),
            cache: Default::default(),
            cost_limits: Default::default(),
            quotas: Default::default(),
            chains: Default::default(),
            shards: Vec::new(),
            rag: Default::default(),
            retention: Default::default(),
            breakers: Default::default(),
            provider: Default::default(),
            price_book: Default::default(),
            telemetry: Default::default(),
        }
    }
}

impl EngineConfig {
    /// Start-up checks beyond what deserialization does.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            let reason = reason.to_owned();
            Err(ConfigError::Invalid { field, reason })
        };
        self.chains.validate()?;
        self.tiers.validate()?;
        self.redis.validate()?;
        if self.commit_interval_ms == 0 {
            return invalid("commit_interval_ms", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.ladder.degrade_fraction) {
            return invalid("ladder.degrade_fraction", "must be between 0 and 1");
        }
        if !(1..=100).contains(&self.rag.nearest_chunks) {
            return invalid("rag.nearest_chunks", "must be between 1 and 100");
        }
        if self.rag.embedding_provider.is_empty() {
            return invalid(
                "rag.embedding_provider",
                "must name the embeddings provider",
            );
        }
        Ok(())
    }

    /// Whether anything uses Redis (the ladder's rate limits, the cost limits, the cache, the
    /// daily quotas).
    pub(crate) fn uses_redis(&self) -> bool {
        self.ladder.enabled || self.cost_limits.enabled || self.cache.enabled || self.quotas.enabled
    }

    /// The scheduler options: bounds from `[scheduler]`, weights and per-company caps from
    /// the tier table.
    pub(crate) fn scheduler_options(&self) -> SchedulerOptions {
        let mut options = self.scheduler.clone();
        options.weights = self.tiers.scheduler_weights();
        options.max_in_flight_per_company = self.tiers.max_in_flight();
        options
    }

    /// Where and how the AI request workflow runs.
    pub(crate) fn runtime_options(&self) -> trestle_workflow::RuntimeOptions {
        trestle_workflow::RuntimeOptions {
            kafka: self.kafka.clone(),
            topic: "ai-requests",
            name: "engine",
            group_id: self.group_id.clone(),
            instance_id: self.instance_id.clone(),
            commit_interval_ms: self.commit_interval_ms,
            commit_max_records: self.commit_max_records,
            shutdown_grace_ms: self.shutdown_grace_ms,
            dispatch: self.dispatch,
            scheduler: self.scheduler_options(),
        }
    }
}
