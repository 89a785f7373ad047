//! The admin tool's configuration: the broker, the control database, the shard databases, the
//! region table companies are registered by, and the Redis of the daily provider quotas.

use serde::{Deserialize, Serialize};

/// Configuration of the admin tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub kafka: trestle_kafka::KafkaOptions,
    /// The control database (platform-wide projections).
    pub control: trestle_store::PostgresOptions,
    /// Shard databases, in shard order. Default: the local stack's two shards.
    pub shards: Vec<trestle_store::PostgresOptions>,
    /// Which region a registered company's country puts it in (`[regions.countries]`, added to
    /// the default table; keep it the same as ingest's).
    pub regions: trestle_tenants::RegionTable,
    /// The region's Redis, where the engines keep the daily provider quota counters (keep
    /// `key_prefix` the same as the engines').
    pub redis: trestle_redis::RedisOptions,
    /// The daily provider quotas (keep them the same as the engines' `[quotas]`).
    pub quotas: trestle_quota::QuotaOptions,
}

impl Default for AdminConfig {
    fn default() -> Self {
        let database = |name: &str| trestle_store::PostgresOptions {
            url: format!("postgres://trestle_app:trestle_app@127.0.0.1:15432/{name}"),
            owner_url: format!("postgres://trestle_owner:trestle_owner@127.0.0.1:15432/{name}"),
            ..Default::default()
        };
        AdminConfig {
            kafka: Default::default(),
            control: database("trestle_control"),
            shards: vec![database("trestle_shard_0"), database("trestle_shard_1")],
            regions: Default::default(),
            redis: Default::default(),
            quotas: Default::default(),
        }
    }
}
