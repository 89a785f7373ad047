//! The notebook and document workflow (seed: "Notebook Pooling Architecture", tier 1, and
//! document sync), on the workflow runtime: it consumes `jobs` and gives each job a hot
//! notebook in its company's cloud project (or the next of its region with room), and syncs
//! each uploaded document into it — add-source at the notebook service, chunks embedded into
//! `ai_embeddings` (pgvector) in the company's shard — with `DocumentSynced`, or
//! `DocumentSyncFailed` and a durable timer for the next attempt.
//!
//! Fair across companies, one job at a time in log order. Its state is in the company's shard
//! (`ledger`) and the notebook capacity ledger in the control database (`placement`); every
//! external call is idempotent by an id we choose, so a step redone after a crash adds no
//! second notebook and no second source. See docs/notebooks.md.
//!
//! The engine answers questions about a job from this state: `questions` reads what a question
//! goes to (the job's notebook, its synced sources, its nearest chunks) and `client` queries a
//! notebook and embeds the question.

mod chunk;
pub mod client;
mod error;
mod knowledge_base;
pub mod ledger;
pub mod placement;
mod pools;
pub mod questions;
mod steps;
mod tiers;
mod workflow;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trestle_scheduler::SchedulerOptions;

pub use chunk::chunks;
pub use client::ServiceOptions;
pub use error::Error;
pub use knowledge_base::{template_ids, KNOWLEDGE_BASE};
pub use workflow::Notebooks;

/// Configuration of the notebook workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotebooksConfig {
    pub kafka: trestle_kafka::KafkaOptions,
    /// Consumer group shared by all instances.
    pub group_id: String,
    /// This instance's stable identity (transactional id, static membership); empty: random.
    pub instance_id: String,
    /// The control database: tenant routing, the cloud-project pool, notebook placements.
    pub control: trestle_store::PostgresOptions,
    /// The shard databases, by shard number (the first is shard 0): each company's jobs,
    /// notebooks, documents and embeddings live in its shard.
    pub shards: Vec<trestle_store::PostgresOptions>,
    /// The notebook service (the provider simulator locally).
    pub service: ServiceOptions,
    pub sync: SyncOptions,
    pub tiers: TierOptions,
    /// Longest time between commits (one Kafka transaction each).
    pub commit_interval_ms: u64,
    /// How long running steps may finish on shutdown.
    pub shutdown_grace_ms: u64,
    /// Longest wait between tries of a step that cannot go on yet (a database down, a company
    /// not provisioned yet, no notebook capacity in its region).
    pub retry_max_delay_ms: u64,
    /// Bounds of the fair scheduler; weights and caps come from the tier table.
    pub scheduler: SchedulerOptions,
    /// The subscription tiers (scheduler weights and caps).
    pub tier_table: trestle_tiers::TierTable,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

/// How documents are synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncOptions {
    /// Attempts of one document before it is given up (`DocumentSyncFailed`, not retryable).
    pub max_attempts: i32,
    /// Wait before the second attempt; doubled for each later one.
    pub retry_min_delay_ms: u64,
    /// Longest wait between attempts.
    pub retry_max_delay_ms: u64,
    /// Largest chunk embedded for RAG, in characters (whole sentences are packed up to it).
    pub chunk_max_chars: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            max_attempts: 8,
            retry_min_delay_ms: 30_000,
            retry_max_delay_ms: 3_600_000,
            chunk_max_chars: 1_000,
        }
    }
}

/// When a completed job moves down the notebook tiers (seed: warm while completed less than 6
/// months ago, 10 jobs per warm notebook, cold after).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierOptions {
    /// Days after completion its documents move into a warm pool and its own notebook goes.
    pub warm_after_days: u32,
    /// Days after completion its notebook goes altogether (RAG answers from its embeddings).
    pub cold_after_days: u32,
    /// Jobs a warm pool takes, at most.
    pub warm_pool_max_jobs: i32,
    /// Sources a warm pool takes, at most (the provider's per-notebook limit); a job with more
    /// documents goes cold instead of warm.
    pub warm_pool_max_sources: i32,
    /// How soon a notebook the provider is still creating (a warm pool, a re-created job
    /// notebook) is looked at again.
    pub recheck_ms: u64,
}

impl Default for TierOptions {
    fn default() -> Self {
        TierOptions {
            warm_after_days: 30,
            cold_after_days: 183,
            warm_pool_max_jobs: 10,
            warm_pool_max_sources: 300,
            recheck_ms: 60_000,
        }
    }
}

impl TierOptions {
    pub(crate) fn warm_after(&self) -> chrono::Duration {
        chrono::Duration::days(self.warm_after_days.into())
    }

    pub(crate) fn cold_after(&self) -> chrono::Duration {
        chrono::Duration::days(self.cold_after_days.into())
    }

    pub(crate) fn recheck(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.recheck_ms as i64)
    }
}

fn local_db(name: &str) -> trestle_store::PostgresOptions {
    trestle_store::PostgresOptions {
        url: format!("postgres://trestle_app:trestle_app@127.0.0.1:15432/{name}"),
        owner_url: format!("postgres://trestle_owner:trestle_owner@127.0.0.1:15432/{name}"),
        ..Default::default()
    }
}

impl Default for NotebooksConfig {
    fn default() -> Self {
        NotebooksConfig {
            kafka: Default::default(),
            group_id: "trestle-notebooks".into(),
            instance_id: String::new(),
            control: local_db("trestle_control"),
            shards: vec![local_db("trestle_shard_0"), local_db("trestle_shard_1")],
            service: ServiceOptions::default(),
            sync: SyncOptions::default(),
            tiers: TierOptions::default(),
            commit_interval_ms: 100,
            shutdown_grace_ms: 10_000,
            retry_max_delay_ms: 30_000,
            scheduler: SchedulerOptions::default(),
            tier_table: Default::default(),
            telemetry: Default::default(),
        }
    }
}

impl NotebooksConfig {
    /// Start-up checks beyond what deserialization does.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field, reason: &str| {
            let reason = reason.to_owned();
            Err(Error::Config { field, reason })
        };
        if self.shards.is_empty() {
            return invalid("shards", "list the shard databases, shard 0 first");
        }
        if self.sync.max_attempts < 1 {
            return invalid("sync.max_attempts", "must be at least 1");
        }
        if self.sync.chunk_max_chars < 50 {
            return invalid("sync.chunk_max_chars", "must be at least 50");
        }
        if self.sync.retry_min_delay_ms > self.sync.retry_max_delay_ms {
            return invalid(
                "sync.retry_min_delay_ms",
                "must not be above sync.retry_max_delay_ms",
            );
        }
        if self.service.max_attempts < 1 {
            return invalid("service.max_attempts", "must be at least 1");
        }
        if self.tiers.warm_pool_max_jobs < 1 || self.tiers.warm_pool_max_sources < 1 {
            return invalid(
                "tiers.warm_pool_max_jobs",
                "a warm pool takes at least one job and one source",
            );
        }
        if self.tiers.cold_after_days <= self.tiers.warm_after_days {
            return invalid(
                "tiers.cold_after_days",
                "must be after tiers.warm_after_days",
            );
        }
        if let Err(error) = self.tier_table.validate() {
            return invalid("tier_table", &error.to_string());
        }
        Ok(())
    }

    fn runtime_options(&self) -> trestle_workflow::RuntimeOptions {
        let mut scheduler = self.scheduler.clone();
        scheduler.weights = self.tier_table.scheduler_weights();
        scheduler.max_in_flight_per_company = self.tier_table.max_in_flight();
        trestle_workflow::RuntimeOptions {
            kafka: self.kafka.clone(),
            topic: "jobs",
            name: "notebooks",
            group_id: self.group_id.clone(),
            instance_id: self.instance_id.clone(),
            commit_interval_ms: self.commit_interval_ms,
            commit_max_records: 1000,
            shutdown_grace_ms: self.shutdown_grace_ms,
            dispatch: trestle_workflow::DispatchMode::Fair,
            scheduler,
        }
    }
}

/// Runs the workflow until `shutdown` resolves: applies the migrations of the control
/// database and every shard, then runs (transient failures restart it with backoff).
pub async fn run(config: NotebooksConfig, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    config.validate()?;
    trestle_store::migrate_control(&config.control).await?;
    let control = trestle_store::connect(&config.control).await?;
    let mut shards = Vec::with_capacity(config.shards.len());
    for shard in &config.shards {
        trestle_store::migrate_shard(shard).await?;
        shards.push(trestle_store::connect(shard).await?);
    }
    let service = client::NotebookService::new(config.service.clone())?;
    let steps = steps::Steps {
        control,
        shards,
        service,
        sync: config.sync.clone(),
        tiers: config.tiers.clone(),
    };
    let workflow = Arc::new(Notebooks::new(
        steps,
        Duration::from_millis(config.retry_max_delay_ms),
    ));
    let (_side, side) = tokio::sync::mpsc::unbounded_channel();
    trestle_workflow::run(workflow, config.runtime_options(), side, shutdown).await?;
    Ok(())
}
