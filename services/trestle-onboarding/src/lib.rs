//! The tenant onboarding workflow (seed: "Tenant Onboarding Flow", step 1), on the workflow
//! runtime: a `CompanyRegistered` on `tenants` is placed — database shard and cloud project of
//! its region (`placement`) — and provisioned: `TenantProvisioned` (and, for a dedicated
//! enterprise company, `CloudProjectRegistered` for its own project) published with the
//! registration's commit point in one Kafka transaction.
//!
//! Fair across companies and in order per company, like every workflow. A step redone after a
//! crash gets its placement back from the ledger, so a company is provisioned once however
//! often the workflow is killed; a second registration of a company already placed is passed
//! over (logged), never provisioned twice.

mod error;
pub mod placement;
mod workflow;

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trestle_scheduler::SchedulerOptions;

pub use error::Error;
pub use workflow::{kb_notebook_id, Onboarding};

/// Configuration of the onboarding workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnboardingConfig {
    pub kafka: trestle_kafka::KafkaOptions,
    /// Consumer group shared by all onboarding instances.
    pub group_id: String,
    /// This instance's stable identity (transactional id, static membership); empty: random.
    pub instance_id: String,
    /// The control database: the placement ledger and the cloud-project pool.
    pub postgres: trestle_store::PostgresOptions,
    pub shards: ShardOptions,
    /// Notebook limit of a dedicated company's own cloud project.
    pub dedicated_notebook_limit: i32,
    /// Longest time between commits (one Kafka transaction each).
    pub commit_interval_ms: u64,
    /// How long running steps may finish on shutdown.
    pub shutdown_grace_ms: u64,
    /// Longest wait between placement attempts while a region has no usable project.
    pub retry_max_delay_ms: u64,
    /// Bounds of the fair scheduler; weights and caps come from the tier table.
    pub scheduler: SchedulerOptions,
    pub tiers: trestle_tiers::TierTable,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

/// The database shards companies are placed on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardOptions {
    /// Shared companies are spread over shards `0 .. shared` by the hash of their id.
    pub shared: i32,
    /// The shard of dedicated (enterprise) companies.
    pub dedicated: i32,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            shared: 2,
            dedicated: 1,
        }
    }
}

impl Default for OnboardingConfig {
    fn default() -> Self {
        OnboardingConfig {
            kafka: Default::default(),
            group_id: "trestle-onboarding".into(),
            instance_id: String::new(),
            postgres: trestle_store::PostgresOptions {
                url: "postgres://trestle_app:trestle_app@127.0.0.1:15432/trestle_control".into(),
                owner_url: "postgres://trestle_owner:trestle_owner@127.0.0.1:15432/trestle_control"
                    .into(),
                ..Default::default()
            },
            shards: ShardOptions::default(),
            dedicated_notebook_limit: 50_000,
            commit_interval_ms: 100,
            shutdown_grace_ms: 10_000,
            retry_max_delay_ms: 30_000,
            scheduler: SchedulerOptions::default(),
            tiers: Default::default(),
            telemetry: Default::default(),
        }
    }
}

impl OnboardingConfig {
    /// Start-up checks beyond what deserialization does.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field, reason: &str| {
            let reason = reason.to_owned();
            Err(Error::Config { field, reason })
        };
        if self.shards.shared < 1 {
            return invalid("shards.shared", "must be at least 1");
        }
        if self.shards.dedicated < 0 {
            return invalid("shards.dedicated", "must be a shard number (0 or more)");
        }
        if self.dedicated_notebook_limit < 1 {
            return invalid("dedicated_notebook_limit", "must be at least 1");
        }
        if let Err(error) = self.tiers.validate() {
            return invalid("tiers", &error.to_string());
        }
        Ok(())
    }

    fn runtime_options(&self) -> trestle_workflow::RuntimeOptions {
        let mut scheduler = self.scheduler.clone();
        scheduler.weights = self.tiers.scheduler_weights();
        scheduler.max_in_flight_per_company = self.tiers.max_in_flight();
        trestle_workflow::RuntimeOptions {
            kafka: self.kafka.clone(),
            topic: "tenants",
            name: "onboarding",
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

/// Runs onboarding until `shutdown` resolves: applies the control database's migrations, then
/// runs the workflow (transient failures restart it with backoff).
pub async fn run(
    config: OnboardingConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    config.validate()?;
    trestle_store::migrate_control(&config.postgres).await?;
    let pool = trestle_store::connect(&config.postgres).await?;
    let workflow = Arc::new(Onboarding::new(pool, &config));
    let (_side, side) = tokio::sync::mpsc::unbounded_channel();
    trestle_workflow::run(workflow, config.runtime_options(), side, shutdown).await?;
    Ok(())
}
