//! Errors of the projector: starting it (configuration) and its loop, naming the topic,
//! partition and offset concerned.

/// Why the projector could not start, or its loop had to restart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`shard` is a setting of the usage and companies projections only, not {projection:?}"
    )]
    ShardNotSupported { projection: crate::ProjectionKind },
    #[error("shard {index} of {count} does not exist")]
    NoSuchShard { index: i32, count: i32 },
    #[error("the tier table is invalid: {0}")]
    Tiers(#[from] trestle_tiers::Error),
    #[error(transparent)]
    Store(#[from] trestle_store::Error),
    #[error(transparent)]
    Kafka(Box<trestle_kafka::Error>),
    #[error("Postgres failed while projecting {topic}: {source}")]
    Postgres {
        topic: String,
        #[source]
        source: sqlx::Error,
    },
}

impl From<trestle_kafka::Error> for Error {
    fn from(error: trestle_kafka::Error) -> Self {
        Error::Kafka(Box::new(error))
    }
}
