//! Projectors fold the log into PostgreSQL tables that billing and operations read.
//!
//! **Architecture invariant:** a projector writes its rows and its `(topic, partition,
//! next_offset)` in one Postgres transaction, under a row lock on the offset rows, and applies
//! only records at or past the stored offset. Kafka's committed offset is written afterwards
//! and only shows lag: it is never trusted for correctness. So a crash, a rebalance or two
//! instances briefly owning one partition never count a record twice or skip one.
//!
//! **Architecture invariant:** projectors produce to Kafka only to dead-letter a record.

mod error;
mod offsets;
mod usage;
mod worker;

pub use error::Error;
pub use usage::{period_starts, UsageDelta};
pub use worker::run;

use serde::{Deserialize, Serialize};

/// Configuration of the usage projector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectorConfig {
    pub kafka: trestle_kafka::KafkaOptions,
    pub postgres: trestle_store::PostgresOptions,
    /// Consumer group of the usage projector.
    pub group_id: String,
    /// Name under which offsets are stored in `projector_offsets`.
    pub projector: String,
    /// Most records per Postgres transaction.
    pub batch_max_records: usize,
    /// How long to wait to fill a batch once its first record arrived.
    pub batch_max_wait_ms: u64,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        ProjectorConfig {
            kafka: Default::default(),
            postgres: Default::default(),
            group_id: "trestle-projector-usage".into(),
            projector: "usage".into(),
            batch_max_records: 1000,
            batch_max_wait_ms: 50,
            telemetry: Default::default(),
        }
    }
}
