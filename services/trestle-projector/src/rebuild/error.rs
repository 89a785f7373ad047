//! Why a rebuild failed, naming the step and the object concerned.

/// A rebuild that did not complete (the rebuild schema is dropped unless kept).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("projection {projection} declares no tables for rebuild (trestle-projector src/rebuild/mod.rs owned_tables)")]
    NotRebuildable { projection: &'static str },
    #[error(
        "the live schema is at migration {live} and this binary's migrations end at {rebuilt}: \
         migrate the live database (restart the projector) first"
    )]
    MigrationsDiffer { live: i64, rebuilt: i64 },
    #[error(transparent)]
    Store(#[from] trestle_store::Error),
    #[error("{doing} failed: {source}")]
    Postgres {
        doing: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{doing} failed: {source}")]
    Kafka {
        doing: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {topic} has no partitions (does it exist?)")]
    NoPartitions { topic: String },
    #[error("rebuild of {topic}[{partition}] stopped at offset {got}, the live projector is at {target}")]
    StoppedShort {
        topic: String,
        partition: i32,
        got: i64,
        target: i64,
    },
    #[error("cannot swap: {0}")]
    CannotSwap(String),
    #[error("projecting into the rebuild schema failed: {0}")]
    Project(#[source] Box<crate::Error>),
}

/// Adds what was being done to a Postgres error.
pub(super) fn pg(doing: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
    let doing = doing.into();
    move |source| Error::Postgres { doing, source }
}

/// Adds what was being done to a Kafka error.
pub(super) fn kafka(doing: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
    let doing = doing.into();
    move |source| Error::Kafka { doing, source }
}
