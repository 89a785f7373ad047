//! The Kafka runtime shared by every Trestle service.
//!
//! Clients: [`KafkaOptions`] builds every librdkafka config; [`EventProducer`] publishes events.
//! A consuming service is one loop over a *session* (a consumer plus whatever it commits
//! through) that [`run_sessions`] restarts with backoff until shutdown. Inside a session the
//! consumer comes from [`consumer::subscribe`] with a [`RebalanceQueue`] context, which hands
//! assignments and revocations to the loop as [`Rebalanced`]; what `recv()` delivers is copied
//! into an [`OwnedRecord`] ([`consumer::received`]); a record the service cannot take goes to
//! the dead-letter topic through a [`DeadLetterer`]; and [`consumer::close`] leaves the group.
//!
//! **Architecture invariant:** every record is keyed as [`trestle_events::Event::key`] says (the
//! company_id as its canonical UUID string, except on the platform topics `providers` and
//! `price-books`) and partitioned with Kafka's Java-client murmur2
//! (`partitioner=murmur2_random`), so producers in any language agree on a key's partition.
//! Only this crate builds Kafka client configs.

pub mod consumer;
mod dead_letter;
mod error;
pub mod follow;
mod murmur2;
mod options;
mod producer;
mod rebalance;
mod record;
mod sessions;
pub mod topics;

pub use dead_letter::{dead_letter_headers, DeadLetterOrigin, DeadLetterer, DLQ_HEADERS};
pub use error::Error;
pub use murmur2::{murmur2, partition_for_key};
pub use options::KafkaOptions;
pub use producer::{Delivered, EventProducer, PUBLISH_WINDOW};
pub use rebalance::{PartitionId, RebalanceQueue, Rebalanced};
pub use record::OwnedRecord;
pub use sessions::{run_sessions, session_backoff, Shutdown};
/// The record key of a company's events (see [`trestle_events::Event::key`]).
pub use trestle_events::company_key;
