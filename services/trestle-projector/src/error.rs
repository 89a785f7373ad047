//! Errors of the projector: starting it (configuration) and its loop, naming the topic,
//! partition and offset concerned.

/// Why the projector could not start, or its loop had to restart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`shard` is a setting of the usage projection only, not {projection:?}")]
    ShardNotUsage { projection: crate::ProjectionKind },
    #[error("usage shard {index} of {count} does not exist")]
    NoSuchShard { index: i32, count: i32 },
    #[error(transparent)]
    Store(#[from] trestle_store::Error),
    #[error(transparent)]
    Kafka(#[from] trestle_kafka::Error),
    #[error("Postgres failed while projecting {topic}: {source}")]
    Postgres {
        topic: String,
        #[source]
        source: sqlx::Error,
    },
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
    #[error("dead-lettering {topic}/{partition}@{offset} failed: {source}")]
    DeadLetter {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}
