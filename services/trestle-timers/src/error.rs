//! Errors of the timer service, each naming the step, topic or setting it concerns.

/// Why the timer service could not start, or a firing failed (its timers stay pending).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(Box<trestle_kafka::Error>),
    #[error("the control database: {0}")]
    Store(#[from] trestle_store::Error),
    #[error("timers, step `{step}`: {source}")]
    Postgres {
        step: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("publishing a timer's event to {topic}: {source}")]
    Produce {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot encode {event}: {reason}")]
    Unencodable { event: &'static str, reason: String },
    #[error("the timers projection: {0}")]
    Projector(Box<trestle_projector::Error>),
    #[error("invalid timer configuration: {field}: {reason}")]
    Config { field: &'static str, reason: String },
}

impl From<trestle_kafka::Error> for Error {
    fn from(error: trestle_kafka::Error) -> Self {
        Error::Kafka(Box::new(error))
    }
}
