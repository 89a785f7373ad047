//! Errors of the projector loop, naming the topic, partition and offset concerned.

/// Why the projector loop had to restart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
}
