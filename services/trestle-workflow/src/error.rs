//! Why a workflow session could not start or had to restart; each names the topic or the
//! transaction step it concerns.

/// Why a workflow session could not start, or its consume-transform-produce loop had to restart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(Box<trestle_kafka::Error>),
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

impl From<trestle_kafka::Error> for Error {
    fn from(error: trestle_kafka::Error) -> Self {
        Error::Kafka(Box::new(error))
    }
}
