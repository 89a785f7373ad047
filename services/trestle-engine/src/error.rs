//! Errors of the engine loop; each names the topic/partition or call it concerns.

/// Why the engine's consume-transform-produce loop had to restart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(#[from] trestle_kafka::Error),
    #[error("Kafka client setup failed ({what}): {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("consuming from {topic} failed: {source}")]
    Consume {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("transaction step `{step}` failed: {source}")]
    Transaction {
        step: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("producing to {topic} failed: {source}")]
    Produce {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot encode {event}: {reason}")]
    Unencodable { event: &'static str, reason: String },
    #[error("scheduler options: {0}")]
    Scheduler(#[source] trestle_scheduler::Error),
}
