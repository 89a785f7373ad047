//! What to read: the topics chosen, their partitions (one per topic with `--company`), and each
//! partition's offset range, captured once at start so a replay always terminates.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use trestle_kafka::topics::TopicSpec;
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

use crate::{Error, Topics};

/// How long one metadata or offsets request may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The `key` that `topics.toml` gives topics keyed by company.
const COMPANY_KEY: &str = "company_id";

/// A topic chosen for the replay.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    /// Physical name (prefix + logical name).
    pub topic: String,
    /// Whether its records are keyed by company (so `--company` picks one partition).
    pub keyed_by_company: bool,
}

/// The topics to read, and those `--all-topics` skipped with the reason.
pub(crate) fn select(
    topics: &Topics,
    company: Option<Uuid>,
    kafka: &KafkaOptions,
) -> Result<(Vec<Selected>, Vec<String>), Error> {
    let specs = trestle_kafka::topics::builtin();
    let keyed = |s: &TopicSpec| s.key == COMPANY_KEY;
    let mut skipped = Vec::new();
    let chosen: Vec<&TopicSpec> =
        match topics {
            Topics::All => specs
                .iter()
                .filter(|s| {
                    // The dead-letter topic holds bytes that failed to decode by definition; name it
                    // explicitly (with --include-undecodable) to export it.
                    if s.values.is_empty() {
                        skipped.push(format!("{}: holds no events", s.name));
                        return false;
                    }
                    if company.is_some() && !keyed(s) {
                        skipped.push(format!("{}: keyed by {}, not company_id", s.name, s.key));
                        return false;
                    }
                    true
                })
                .collect(),
            Topics::Named(names) if names.is_empty() => return Err(Error::NoTopics),
            Topics::Named(names) => {
                let mut chosen: Vec<&TopicSpec> = Vec::new();
                for name in names {
                    let spec = specs.iter().find(|s| s.name == *name).ok_or_else(|| {
                        Error::UnknownTopic {
                            topic: name.clone(),
                            known: specs.iter().map(|s| s.name.clone()).collect(),
                        }
                    })?;
                    // The dead letters keep each record's original key, the company.
                    if company.is_some() && !keyed(spec) && !spec.values.is_empty() {
                        return Err(Error::NotKeyedByCompany {
                            topic: spec.name.clone(),
                            key: spec.key.clone(),
                        });
                    }
                    if !chosen.iter().any(|c| c.name == spec.name) {
                        chosen.push(spec);
                    }
                }
                chosen
            }
        };
    let selected = chosen
        .into_iter()
        .map(|s| Selected {
            topic: kafka.topic(&s.name),
            keyed_by_company: keyed(s) || s.values.is_empty(),
        })
        .collect();
    Ok((selected, skipped))
}

/// One partition to read: offsets `[start, end)`.
#[derive(Debug, Clone)]
pub(crate) struct Range {
    /// Physical topic name.
    pub topic: String,
    pub partition: i32,
    /// First offset whose record timestamp is at or after `from - slack`.
    pub start: i64,
    /// The end captured at start: the last stable offset (read_committed high watermark), or
    /// the first offset whose timestamp is at or after `to + slack` if that comes earlier.
    pub end: i64,
}

/// Looks up partitions and offsets on the broker (blocking calls) for the selected topics.
pub(crate) fn ranges(
    consumer: &BaseConsumer,
    kafka: &KafkaOptions,
    selected: &[Selected],
    company: Option<Uuid>,
    start_ms: i64,
    stop_ms: i64,
) -> Result<Vec<Range>, Error> {
    let bootstrap = &kafka.bootstrap_servers;
    let mut ranges = Vec::new();
    for sel in selected {
        let metadata = consumer
            .fetch_metadata(Some(&sel.topic), LOOKUP_TIMEOUT)
            .map_err(|source| Error::Unreachable {
                bootstrap: bootstrap.clone(),
                source: Box::new(source),
            })?;
        let topic = metadata.topics().iter().find(|t| t.name() == sel.topic);
        let count = match topic {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                t.partitions().len() as i32
            }
            other => {
                let reason = other
                    .and_then(|t| t.error())
                    .map(|e| rdkafka::types::RDKafkaErrorCode::from(e).to_string())
                    .unwrap_or_else(|| "no partitions in the broker's metadata".into());
                return Err(Error::MissingTopic {
                    topic: sel.topic.clone(),
                    bootstrap: bootstrap.clone(),
                    prefix: kafka.topic_prefix.clone(),
                    reason,
                });
            }
        };
        let partitions: Vec<i32> = match company {
            Some(c) if sel.keyed_by_company => {
                let key = trestle_kafka::company_key(&c);
                vec![trestle_kafka::partition_for_key(key.as_bytes(), count)]
            }
            _ => (0..count).collect(),
        };
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(&sel.topic, partition, LOOKUP_TIMEOUT)
                .map_err(|source| Error::Offsets {
                    what: "watermarks",
                    topic: sel.topic.clone(),
                    partition: Some(partition),
                    source: Box::new(source),
                })?;
            ranges.push(Range {
                topic: sel.topic.clone(),
                partition,
                start: low,
                end: high,
            });
        }
    }
    let starts = offsets_for_time(consumer, &ranges, start_ms, "offsets for --from")?;
    let stops = offsets_for_time(consumer, &ranges, stop_ms, "offsets for --to")?;
    for ((range, start), stop) in ranges.iter_mut().zip(starts).zip(stops) {
        let low = range.start;
        if let Some(stop) = stop {
            range.end = range.end.min(stop);
        }
        range.start = start.unwrap_or(range.end).max(low).min(range.end);
    }
    Ok(ranges)
}

/// For each range, the first offset whose timestamp is at or after `ms`; `None` when no record
/// is that late.
fn offsets_for_time(
    consumer: &BaseConsumer,
    ranges: &[Range],
    ms: i64,
    what: &'static str,
) -> Result<Vec<Option<i64>>, Error> {
    let mut tpl = TopicPartitionList::with_capacity(ranges.len());
    for r in ranges {
        tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(ms))
            .expect("a timestamp is a valid offset value");
    }
    let topics = || {
        let mut names: Vec<&str> = ranges.iter().map(|r| r.topic.as_str()).collect();
        names.dedup();
        names.join(",")
    };
    let found = consumer
        .offsets_for_times(tpl, LOOKUP_TIMEOUT)
        .map_err(|source| Error::Offsets {
            what,
            topic: topics(),
            partition: None,
            source: Box::new(source),
        })?;
    ranges
        .iter()
        .map(|r| {
            let elem = found
                .find_partition(&r.topic, r.partition)
                .expect("the broker answers for every partition asked");
            if let Err(source) = elem.error() {
                return Err(Error::Offsets {
                    what,
                    topic: r.topic.clone(),
                    partition: Some(r.partition),
                    source: Box::new(source),
                });
            }
            Ok(match elem.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            })
        })
        .collect()
}
