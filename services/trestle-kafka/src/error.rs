//! The errors of Kafka plumbing, each carrying the topic (and partition) it concerns.

use rdkafka::error::KafkaError;

/// What went wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client could not be created from the options.
    #[error("cannot create Kafka {role} client for {bootstrap}: {source}")]
    Client {
        role: &'static str,
        bootstrap: String,
        #[source]
        source: KafkaError,
    },
    /// An event could not be encoded.
    #[error("cannot encode {event} for topic {topic}: {source}")]
    Encode {
        event: &'static str,
        topic: String,
        #[source]
        source: Box<trestle_events::Error>,
    },
    /// The broker did not acknowledge a record.
    #[error("delivery to topic {topic} failed: {source}")]
    Delivery {
        topic: String,
        #[source]
        source: KafkaError,
    },
    /// A consumer could not be created or subscribed.
    #[error("Kafka client setup failed ({what}): {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: KafkaError,
    },
    /// Consuming failed (a poll, an offset fetch, an assignment).
    #[error("consuming from {topic} failed: {source}")]
    Consume {
        topic: String,
        #[source]
        source: KafkaError,
    },
    /// A rejected record could not be sent to the dead-letter topic.
    #[error("dead-lettering {topic}/{partition}@{offset} failed: {source}")]
    DeadLetter {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: KafkaError,
    },
    /// `topics.toml` is malformed.
    #[error("topics.toml is invalid: {0}")]
    TopicsSpec(String),
    /// An admin operation on a topic failed.
    #[error("admin operation `{operation}` on topic {topic} failed: {message}")]
    Admin {
        operation: &'static str,
        topic: String,
        message: String,
    },
}
