//! Errors of the engine: why it could not start, and why its loop had to restart; each names
//! the topic/partition or call it concerns.

/// Why the engine could not start, or its consume-transform-produce loop had to restart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(Box<trestle_kafka::Error>),
    #[error(transparent)]
    Workflow(#[from] trestle_workflow::Error),
    #[error("invalid engine configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("starting the {what}: {source}")]
    RateLimit {
        what: &'static str,
        #[source]
        source: trestle_ratelimit::Error,
    },
    #[error("starting the monthly cost limits: {0}")]
    CostLimits(#[source] trestle_budget::Error),
    #[error("circuit breaker options: {0}")]
    Breakers(#[source] trestle_breaker::Error),
    #[error("connecting to Redis: {0}")]
    Redis(#[source] trestle_redis::Error),
    #[error("shard database {shard}: {source}")]
    Shard {
        shard: usize,
        #[source]
        source: trestle_store::Error,
    },
    #[error("the notebook service client: {0}")]
    NotebookService(#[source] trestle_notebooks::client::CallError),
}

/// What is wrong with an [`EngineConfig`](crate::EngineConfig); each names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A provider chain is unusable.
    #[error("chains.{kind}: {reason}")]
    Chain { kind: String, reason: &'static str },
    /// A field has a value the engine cannot work with.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The tier table is invalid.
    #[error("tiers: {0}")]
    Tiers(#[from] trestle_tiers::Error),
    /// The `[redis]` section is invalid.
    #[error("redis: {0}")]
    Redis(#[from] trestle_redis::Error),
}

impl From<trestle_kafka::Error> for Error {
    fn from(error: trestle_kafka::Error) -> Self {
        Error::Kafka(Box::new(error))
    }
}
