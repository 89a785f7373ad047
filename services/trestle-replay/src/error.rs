//! The errors of a replay, each saying what it concerns and what to do next.

use chrono::{DateTime, Utc};
use rdkafka::error::KafkaError;

/// Why a replay could not start or finish. Every message ends with what to try next.
///
/// Kafka errors are boxed: librdkafka's error type is large, and this one travels by value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither a topic nor `--all-topics` was given.
    #[error("no topic to read: name one with --topic (e.g. --topic usage) or pass --all-topics")]
    NoTopics,
    /// A topic is not one of `topics.toml`.
    #[error("unknown topic `{topic}`; the topics of topics.toml are: {}", known.join(", "))]
    UnknownTopic {
        /// The logical name asked for.
        topic: String,
        /// Every logical topic name of `topics.toml`.
        known: Vec<String>,
    },
    /// `--from` is not before `--to`.
    #[error("empty time range: --from {from} is not before --to {to}; the range is [from, to)")]
    EmptyRange {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// `--company` was given for a topic whose records are not keyed by company.
    #[error(
        "--company cannot pick a partition of `{topic}`: its records are keyed by {key}, not \
         company_id; replay it without --company"
    )]
    NotKeyedByCompany { topic: String, key: String },
    /// The consumer could not be created from the configuration.
    #[error(
        "cannot create a Kafka consumer for {bootstrap}: {source}; check the kafka.* settings \
         (--config FILE or TRESTLE_KAFKA__*)"
    )]
    Client {
        bootstrap: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// The brokers did not answer a metadata request.
    #[error(
        "cannot reach Kafka at {bootstrap}: {source}; is the stack up? run `compose/stack up` \
         (or point TRESTLE_KAFKA__BOOTSTRAP_SERVERS at your brokers)"
    )]
    Unreachable {
        bootstrap: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// A topic of `topics.toml` does not exist on the broker under the configured prefix.
    #[error(
        "topic {topic} does not exist on {bootstrap} ({reason}); create the topics with \
         `trestle-admin topics`, or check kafka.topic_prefix (now `{prefix}`)"
    )]
    MissingTopic {
        topic: String,
        bootstrap: String,
        prefix: String,
        reason: String,
    },
    /// Looking up watermarks or offsets for times failed.
    #[error(
        "cannot look up the {what} of {topic}{}: {source}; retry, or check the broker's logs",
        partition.map(|p| format!(" partition {p}")).unwrap_or_default()
    )]
    Offsets {
        /// "watermarks", "offsets for --from", ...
        what: &'static str,
        /// The topic, or the topics asked together.
        topic: String,
        partition: Option<i32>,
        #[source]
        source: Box<KafkaError>,
    },
    /// Assigning the partitions to read failed.
    #[error("cannot assign {count} partitions to the replay consumer: {source}")]
    Assign {
        count: usize,
        #[source]
        source: Box<KafkaError>,
    },
    /// Reading a partition failed in a way that retrying inside librdkafka cannot fix.
    #[error("reading {topic} failed: {source}; was the topic deleted, or access revoked?")]
    Consume {
        /// The topic being read (librdkafka does not say which partition failed).
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// No partition moved for a long while (a broker down in the middle of a replay).
    #[error(
        "no progress for {seconds} s on {partitions}; is Kafka still up? (`compose/stack status` \
         locally); the output so far is incomplete"
    )]
    Stalled { seconds: u64, partitions: String },
    /// Writing the output failed (disk full, closed pipe...).
    #[error("cannot write the output: {source}; check the --output path and free space")]
    Write {
        #[source]
        source: std::io::Error,
    },
    /// The background reader stopped unexpectedly (a bug).
    #[error("the Kafka reader thread stopped unexpectedly: {0}")]
    Reader(String),
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Write { source }
    }
}
