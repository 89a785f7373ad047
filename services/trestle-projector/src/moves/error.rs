//! Why a move stopped, naming the step and the object concerned. A move that stopped is
//! unfinished on the log (a `TenantMoveStarted` without its `TenantMoved`): running it again
//! continues it.

use uuid::Uuid;

/// A move that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("shard {shard} is not one of the {count} configured shards")]
    NoSuchShard { shard: i32, count: i32 },
    #[error("company {company} has no TenantProvisioned on the log: only a provisioned company can move")]
    NotProvisioned { company: Uuid },
    #[error("company {company} is already on shard {shard} and no other shard holds its usage")]
    NothingToMove { company: Uuid, shard: i32 },
    #[error(
        "move {move_id} of company {company} to shard {to_shard} (of {shard_count}) is unfinished: \
         finish it first (trestle-admin tenant move {company} --to-shard {to_shard})"
    )]
    OtherMoveOpen {
        company: Uuid,
        move_id: Uuid,
        to_shard: i32,
        shard_count: i32,
    },
    #[error(
        "company {company} has {jobs} jobs (notebooks, documents, embeddings) in shard {shard}: \
         a move carries usage, billing and the company record, not the notebook workflow's \
         tables yet, so it is refused (docs/tenancy.md, \"What a move does not carry\")"
    )]
    HasJobs {
        company: Uuid,
        shard: i32,
        jobs: i64,
    },
    #[error("another move of company {company} is running (it holds the company's move lock in the control database)")]
    MoveRunning { company: Uuid },
    #[error(
        "the cut-over did not take: the latest routing decision of company {company} in usage \
         partition {partition} is shard {shard}, not {to_shard} (a newer provisioning to another \
         shard?)"
    )]
    CutOverNotTaken {
        company: Uuid,
        partition: i32,
        shard: i32,
        to_shard: i32,
    },
    #[error(
        "the usage projector of shard {shard} has not applied {topic}[{partition}] up to offset \
         {offset} within {waited_ms} ms (stored next offset: {stored:?}); is it running?"
    )]
    SourceBehind {
        shard: i32,
        topic: String,
        partition: i32,
        offset: i64,
        stored: Option<i64>,
        waited_ms: u64,
    },
    #[error("reading {topic}[{partition}] stopped at offset {got:?} before {want}")]
    StoppedShort {
        topic: String,
        partition: i32,
        got: Option<i64>,
        want: i64,
    },
    #[error(
        "shard {shard}'s usage of company {company} differs from what the log routed to it: \
         {detail}; nothing was removed"
    )]
    Differs {
        company: Uuid,
        shard: i32,
        detail: String,
    },
    #[error(transparent)]
    Store(#[from] trestle_store::Error),
    /// Boxed: the Kafka error is large, and every step returns this type.
    #[error(transparent)]
    Publish(Box<trestle_kafka::Error>),
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
}

impl From<trestle_kafka::Error> for Error {
    fn from(e: trestle_kafka::Error) -> Self {
        Error::Publish(Box::new(e))
    }
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
