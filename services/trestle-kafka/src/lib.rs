//! Kafka plumbing shared by every Trestle service.
//!
//! **Architecture invariant:** every record key is a company_id as its canonical UUID string and
//! is partitioned with Kafka's Java-client murmur2 (`partitioner=murmur2_random`), so producers
//! in any language agree on a company's partition. Only this crate builds Kafka client configs.

pub mod consumer;
mod dead_letter;
mod error;
mod murmur2;
mod options;
mod producer;
pub mod topics;

pub use dead_letter::{dead_letter_headers, DeadLetterOrigin, DLQ_HEADERS};
pub use error::Error;
pub use murmur2::{murmur2, partition_for_key};
pub use options::KafkaOptions;
pub use producer::{Delivered, EventProducer};

/// The record key for a company: its canonical (lowercase, hyphenated) UUID string.
pub fn company_key(company_id: &uuid::Uuid) -> String {
    company_id.hyphenated().to_string()
}

/// The record key of an event, as `topics.toml` declares it: the company key, except on the
/// platform-scoped `providers` topic, where it is `provider/project/region` so one circuit's
/// transitions stay in order on one partition, and on `price-books`, where it is the constant
/// `price-book` so every version stays in order on one partition.
pub fn record_key(event: &trestle_events::Event) -> String {
    use trestle_events::Event;
    let circuit = |provider: &str, project: &str, region: trestle_events::Region| {
        format!("{provider}/{project}/{region}")
    };
    match event {
        Event::ProviderCircuitOpened(e) => circuit(&e.provider, &e.cloud_project_id, e.region),
        Event::ProviderCircuitHalfOpened(e) => circuit(&e.provider, &e.cloud_project_id, e.region),
        Event::ProviderCircuitClosed(e) => circuit(&e.provider, &e.cloud_project_id, e.region),
        Event::PriceBookPublished(_) => trestle_events::PRICE_BOOK_KEY.to_owned(),
        Event::CloudProjectMaintenanceSet(e) => e.cloud_project_id.clone(),
        Event::CloudProjectLimitSet(e) => e.cloud_project_id.clone(),
        other => company_key(&other.meta().company_id),
    }
}
