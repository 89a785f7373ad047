//! The AI request workflow engine.
//!
//! It consumes `AiRequestSubmitted` from `ai-requests` (read_committed), calls the AI provider
//! over HTTP, and publishes the outcome (`ai-outcomes`) and the priced usage (`usage`) together
//! with the consumed offsets in one Kafka transaction (consume-transform-produce). A crash or a
//! rebalance aborts the open transaction, so downstream read_committed consumers see each
//! outcome exactly once; provider calls themselves are at-least-once, and usage carries a
//! permanent idempotency key (request_id + meter) so a redone call is never billed twice.
//!
//! **Architecture invariant:** the engine writes to Kafka only inside a transaction that also
//! carries the offsets of the records it consumed.

mod error;
mod pricing;
mod provider;
mod transform;
mod worker;

pub use error::Error;
pub use pricing::{PriceBook, Route};
pub use provider::{ProviderClient, ProviderOptions};
pub use worker::run;

use serde::{Deserialize, Serialize};

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
    /// Most records handled in one transaction.
    pub batch_max_records: usize,
    /// How long to wait to fill a batch once its first record arrived.
    pub batch_max_wait_ms: u64,
    /// Provider calls in flight at once.
    pub concurrency: usize,
    pub provider: ProviderOptions,
    pub price_book: PriceBook,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            kafka: Default::default(),
            group_id: "trestle-engine".into(),
            instance_id: String::new(),
            batch_max_records: 500,
            batch_max_wait_ms: 20,
            concurrency: 256,
            provider: Default::default(),
            price_book: Default::default(),
            telemetry: Default::default(),
        }
    }
}
