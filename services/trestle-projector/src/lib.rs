//! Projectors fold the log into PostgreSQL tables that billing and operations read (through
//! `trestle-query`, which owns the reads).
//!
//! **Architecture invariant:** a projector writes its rows and its `(topic, partition,
//! next_offset)` in one Postgres transaction, under a row lock on the offset rows, and applies
//! only records at or past the stored offset. Kafka's committed offset is written afterwards
//! and only shows lag: it is never trusted for correctness. So a crash, a rebalance or two
//! instances briefly owning one partition never count a record twice or skip one.
//!
//! **Architecture invariant:** projectors produce to Kafka only to dead-letter a record.

mod ai_requests;
mod billing;
mod companies;
mod error;
pub mod health;
pub mod moves;
mod offsets;
pub mod pool;
mod projection;
pub mod rebuild;
pub mod routing;
mod timers;
mod usage;
mod worker;

pub use ai_requests::AiRequestsProjection;
pub use billing::BillingProjection;
pub use companies::{ai_config, CompaniesProjection};
pub use error::Error;
pub use health::ShardHealthProjection;
pub use pool::PoolProjection;
pub use projection::{decode_keyed, Applied, Projection, Record, Sourced};
pub use rebuild::{rebuild, Error as RebuildError, RebuildMode, RebuildOptions, RebuildReport};
pub use routing::RoutingProjection;
pub use timers::TimersProjection;
pub use usage::{default_shard, ShardedUsageProjection, UsageProjection, UsageShardConfig};
pub use worker::run_projection;

use std::sync::Arc;

/// Which projection a projector process runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionKind {
    /// `usage` → `company_ai_usage` and `usage_records` in a shard database.
    #[default]
    Usage,
    /// `shard_health` → `shard_health_companies` and `shard_health_minutes` in the control
    /// database (docs/shard-health.md).
    ShardHealth,
    /// `billing` → `price_books`, `price_book_tiers` and `company_tiers` in a shard database,
    /// which `billing_statements` prices monthly usage from.
    Billing,
    /// `routing` → `tenant_routing` in the control database (docs/tenancy.md).
    Routing,
    /// `pool` → `cloud_projects` and `cloud_project_requests_daily` in the control database
    /// (docs/tenancy.md).
    Pool,
    /// `timers` → `timers` in the control database: the timer service's pending timers
    /// (docs/timers.md; run by `trestle-timers`).
    Timers,
    /// `tenants` → `companies` (and `company_tenancy`) in a shard database: the company record
    /// of each company provisioned to the shard, `ai_config` from the tier defaults
    /// (docs/tenancy.md). With `[shard]`, only that shard's companies.
    Companies,
    /// `ai-requests` + `ai-outcomes` → `ai_requests` in a shard database: each request's
    /// status and answer (docs/answers.md). With `[shard]`, only that shard's companies (it
    /// reads `tenants` too).
    AiRequests,
}

impl ProjectionKind {
    /// The kind of database it writes to (and so which migrations apply).
    pub fn database(self) -> trestle_store::Database {
        match self {
            ProjectionKind::Usage => trestle_store::Database::Shard,
            ProjectionKind::ShardHealth => trestle_store::Database::Control,
            ProjectionKind::Billing | ProjectionKind::Companies | ProjectionKind::AiRequests => {
                trestle_store::Database::Shard
            }
            ProjectionKind::Routing | ProjectionKind::Pool | ProjectionKind::Timers => {
                trestle_store::Database::Control
            }
        }
    }

    /// The projection itself.
    pub fn projection(self) -> Arc<dyn Projection> {
        match self {
            ProjectionKind::Usage => Arc::new(UsageProjection),
            ProjectionKind::ShardHealth => Arc::new(ShardHealthProjection::default()),
            ProjectionKind::Billing => Arc::new(BillingProjection),
            ProjectionKind::Routing => Arc::new(RoutingProjection),
            ProjectionKind::Pool => Arc::new(PoolProjection),
            ProjectionKind::Timers => Arc::new(TimersProjection),
            ProjectionKind::Companies => Arc::new(CompaniesProjection::default()),
            ProjectionKind::AiRequests => Arc::new(AiRequestsProjection::default()),
        }
    }
}

/// Migrates the configured database and runs the configured projection until `shutdown`
/// resolves.
pub async fn run(
    mut config: ProjectorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    config
        .projection
        .database()
        .migrate(&config.postgres)
        .await?;
    let projection = match (&config.shard, config.projection) {
        (Some(shard), ProjectionKind::Usage) => {
            Arc::new(ShardedUsageProjection::connect(shard).await?) as Arc<dyn Projection>
        }
        _ => config.configured_projection()?,
    };
    config.group_id = config.group_id();
    run_projection(config, projection, shutdown).await
}

use serde::{Deserialize, Serialize};

/// Configuration of a projector process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectorConfig {
    pub kafka: trestle_kafka::KafkaOptions,
    pub postgres: trestle_store::PostgresOptions,
    /// Consumer group. Empty (the default): `trestle-projector-<projection>`, e.g.
    /// `trestle-projector-pool` ([`ProjectorConfig::group_id`]).
    pub group_id: String,
    /// Which projection to run.
    pub projection: ProjectionKind,
    /// Name under which offsets are stored in `projector_offsets`; empty: the projection's
    /// own name.
    pub projector: String,
    /// Most records per Postgres transaction.
    pub batch_max_records: usize,
    /// How long to wait to fill a batch once its first record arrived.
    pub batch_max_wait_ms: u64,
    /// Where progress is kept. Not a configuration key (`serde(skip)`): only code built with
    /// the `bench` feature can choose `OffsetStore::KafkaAfterWrite`, which exists so the
    /// projector benchmark (`load/src/bin/bench_projector`) can measure what exactly-once costs.
    #[serde(skip)]
    pub offsets: OffsetStore,
    pub telemetry: trestle_telemetry::TelemetryOptions,
    /// Usage, companies and ai_requests only: apply just the usage routed to this shard, keep
    /// just the companies provisioned to it (docs/tenancy.md; companies and ai_requests read
    /// only `index`). Unset: every company's.
    pub shard: Option<UsageShardConfig>,
    /// Companies only: the tier table whose defaults initialise a company's `ai_config` (keep
    /// it the same as the engine's `[tiers]`). Default: the seed's tier table.
    pub tiers: trestle_tiers::TierTable,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        ProjectorConfig {
            kafka: Default::default(),
            postgres: Default::default(),
            group_id: String::new(),
            projection: ProjectionKind::Usage,
            projector: String::new(),
            batch_max_records: 1000,
            batch_max_wait_ms: 50,
            offsets: OffsetStore::Postgres,
            telemetry: Default::default(),
            shard: None,
            tiers: Default::default(),
        }
    }
}

impl ProjectorConfig {
    /// The consumer group: the configured `group_id`, else `trestle-projector-<projection>`
    /// (`trestle-projector-usage`, `trestle-projector-shard_health`, ...), with `-<index>` for
    /// a shard's projector (`trestle-projector-companies-1`): each shard's projector reads
    /// every partition, so two shards must never share a group.
    pub fn group_id(&self) -> String {
        if !self.group_id.is_empty() {
            return self.group_id.clone();
        }
        let name = self.projection.projection().name();
        match &self.shard {
            Some(shard) => format!("trestle-projector-{name}-{}", shard.index),
            None => format!("trestle-projector-{name}"),
        }
    }

    /// The projection this configuration runs, for every projection that needs no connection
    /// of its own (all but sharded usage, which [`run`] connects to the control database).
    /// A rebuild projects with it too.
    pub fn configured_projection(&self) -> Result<Arc<dyn Projection>, Error> {
        match (&self.shard, self.projection) {
            (None, ProjectionKind::Companies) => {
                self.tiers.validate()?;
                Ok(Arc::new(CompaniesProjection::new(None, &self.tiers)))
            }
            (Some(shard), ProjectionKind::Companies) => {
                if shard.count < 1 || !(0..shard.count).contains(&shard.index) {
                    return Err(Error::NoSuchShard {
                        index: shard.index,
                        count: shard.count,
                    });
                }
                self.tiers.validate()?;
                Ok(Arc::new(CompaniesProjection::new(
                    Some(shard.index),
                    &self.tiers,
                )))
            }
            (Some(shard), ProjectionKind::AiRequests) => {
                if shard.count < 1 || !(0..shard.count).contains(&shard.index) {
                    return Err(Error::NoSuchShard {
                        index: shard.index,
                        count: shard.count,
                    });
                }
                Ok(Arc::new(AiRequestsProjection::new(Some(shard.index))))
            }
            (None, kind) => Ok(kind.projection()),
            (Some(_), projection) => Err(Error::ShardNotSupported { projection }),
        }
    }
}

/// Where the projector keeps its progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OffsetStore {
    /// `projector_offsets`, locked and advanced in each batch's transaction; the consumer
    /// seeks from it on assignment. Exactly once: the architecture invariant above.
    #[default]
    Postgres,
    /// **Benchmark baseline only; breaks the architecture invariant.** No `projector_offsets`
    /// lock, filter or update: the batch transaction holds only the rows, and Kafka's committed
    /// offset (committed after the Postgres commit, as in `postgres` mode) is the only record
    /// of progress. A crash between the two commits replays the batch; usage still counts once
    /// only because of the unique idempotency key, which a projection without one would lack.
    /// Only with the `bench` cargo feature (which `load/` enables for `bench_projector`).
    #[cfg(feature = "bench")]
    KafkaAfterWrite,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_group_is_named_after_the_projection() {
        let config = |projection| ProjectorConfig {
            projection,
            ..ProjectorConfig::default()
        };
        assert_eq!(
            config(ProjectionKind::Usage).group_id(),
            "trestle-projector-usage"
        );
        assert_eq!(
            config(ProjectionKind::Pool).group_id(),
            "trestle-projector-pool"
        );
        assert_eq!(
            config(ProjectionKind::ShardHealth).group_id(),
            "trestle-projector-shard_health"
        );
        let configured = ProjectorConfig {
            group_id: "mine".into(),
            ..config(ProjectionKind::Pool)
        };
        assert_eq!(configured.group_id(), "mine");
        let shard = ProjectorConfig {
            shard: Some(UsageShardConfig {
                index: 1,
                count: 2,
                control: Default::default(),
            }),
            ..config(ProjectionKind::Companies)
        };
        assert_eq!(shard.group_id(), "trestle-projector-companies-1");
    }

    #[test]
    fn a_shards_companies_projector_is_configured_from_the_environment() {
        let env = [
            ("TRESTLE_PROJECTION", "companies"),
            ("TRESTLE_SHARD__INDEX", "1"),
            ("TRESTLE_SHARD__COUNT", "2"),
            ("TRESTLE_TIERS__STARTER__REQUESTS_PER_MINUTE", "5"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let config: ProjectorConfig = trestle_config::load_from(None, env).unwrap();
        assert_eq!(config.group_id(), "trestle-projector-companies-1");
        assert_eq!(
            config
                .tiers
                .get(trestle_tiers::Tier::Starter)
                .requests_per_minute,
            5
        );
        assert_eq!(config.configured_projection().unwrap().name(), "companies");
        let outside = ProjectorConfig {
            shard: Some(UsageShardConfig {
                index: 2,
                count: 2,
                control: Default::default(),
            }),
            ..config.clone()
        };
        assert!(matches!(
            outside.configured_projection(),
            Err(Error::NoSuchShard { index: 2, count: 2 })
        ));
        let pool = ProjectorConfig {
            projection: ProjectionKind::Pool,
            ..config
        };
        assert!(matches!(
            pool.configured_projection(),
            Err(Error::ShardNotSupported { .. })
        ));
    }

    #[test]
    fn configuration_cannot_switch_off_exactly_once_offsets() {
        assert_eq!(ProjectorConfig::default().offsets, OffsetStore::Postgres);
        let env = [(
            "TRESTLE_OFFSETS".to_string(),
            "kafka_after_write".to_string(),
        )];
        let config: ProjectorConfig = trestle_config::load_from(None, env).unwrap();
        assert_eq!(config.offsets, OffsetStore::Postgres);
    }
}
