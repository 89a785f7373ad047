//! `trestle-replay`: exports a time range of Trestle topics — or one company's share of them —
//! as JSON Lines or CSV, for analysts.
//!
//! How it reads:
//! - **read_committed**, so aborted transactions of the engine never show up;
//! - partitions are **assigned by hand**: it never joins a consumer group, never commits, and so
//!   never disturbs the services' groups or their lag. librdkafka is given a throwaway
//!   `group.id` ([`Summary::consumer_group`]) that no broker ever hears of as a member;
//! - each partition's range is **captured at start**: from the first offset whose record
//!   timestamp is at or after `from - slack` to the last stable offset (or the first offset at
//!   or after `to + slack`, if earlier), so a replay terminates even while producers write;
//! - with a company, only **that company's partition** is read (the Java-client murmur2 of its
//!   key) and only records with its key are kept;
//! - every value is decoded with [`trestle_events::decode`] and kept when its own
//!   `occurred_at` is in `[from, to)`. Undecodable records are counted, listed in the
//!   [`Summary`] and on stderr, and written out (base64) with `include_undecodable`.
//!
//! Record timestamps are the producer's CreateTime, which can lag or lead an event's
//! `occurred_at`; `slack` widens the scanned window on both sides to catch such events.
//!
//! **Architecture invariant:** replay never subscribes and never commits offsets: it cannot
//! change where any service's consumer group is.

mod error;
mod output;
mod plan;
mod progress;
mod read;
mod summary;

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

pub use error::Error;
pub use output::{Format, CSV_COLUMNS, UNDECODABLE_TYPE};
pub use progress::Progress;
pub use summary::{PartitionStats, Stop, Summary, UndecodableRecord, UNDECODABLE_LISTED};

use output::{Origin, Sink};
use read::Item;

/// Default slack around `[from, to)` when choosing offsets by record timestamp: 15 minutes.
pub const DEFAULT_SLACK: Duration = Duration::from_secs(15 * 60);

/// Which topics to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topics {
    /// These logical topics of `topics.toml` (`usage`, `ai-outcomes`, ...).
    Named(Vec<String>),
    /// Every topic of `topics.toml` that carries events (not `dead-letter`); with a company,
    /// only those keyed by company.
    All,
}

/// What to replay and how to write it.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Brokers, topic prefix and raw librdkafka properties.
    pub kafka: KafkaOptions,
    pub topics: Topics,
    /// Start of the range (inclusive), compared with each event's `occurred_at`.
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// Only this company's partition and records.
    pub company: Option<Uuid>,
    pub format: Format,
    /// Write undecodable records as lines with their value in base64.
    pub include_undecodable: bool,
    /// How far record timestamps (CreateTime) may be from `occurred_at`; widens the scanned
    /// offset range on both sides. Default [`DEFAULT_SLACK`].
    pub slack: Duration,
    pub progress: Progress,
}

impl ReplayOptions {
    /// Options for `topics` over `[from, to)` with the defaults: all companies, JSON Lines,
    /// undecodable records reported but not written, 15 minutes of slack, automatic progress.
    pub fn new(
        kafka: KafkaOptions,
        topics: Topics,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        ReplayOptions {
            kafka,
            topics,
            from,
            to,
            company: None,
            format: Format::default(),
            include_undecodable: false,
            slack: DEFAULT_SLACK,
            progress: Progress::default(),
        }
    }
}

/// Replays the chosen topics into `out` and reports what was read.
pub async fn replay(options: ReplayOptions, out: &mut impl Write) -> Result<Summary, Error> {
    let started = Instant::now();
    if options.from >= options.to {
        return Err(Error::EmptyRange {
            from: options.from,
            to: options.to,
        });
    }
    let (selected, skipped_topics) =
        plan::select(&options.topics, options.company, &options.kafka)?;
    if selected.is_empty() {
        return Err(Error::NoTopics);
    }
    let slack_ms = i64::try_from(options.slack.as_millis()).unwrap_or(i64::MAX / 4);
    // Timestamps below zero mean "latest"/"earliest" to ListOffsets; the epoch is early enough.
    let start_ms = options
        .from
        .timestamp_millis()
        .saturating_sub(slack_ms)
        .max(0);
    let stop_ms = options.to.timestamp_millis().saturating_add(slack_ms);

    // NEVER joined, NEVER committed: partitions are assigned by hand and auto-commit is off.
    let group = format!("trestle-replay-{}", Uuid::new_v4().simple());
    let (consumers, ranges) = assign(&options, selected, &group, start_ms, stop_ms).await?;
    let mut summary = new_summary(group, skipped_topics, &ranges);
    let total: u64 = ranges.iter().map(|r| (r.end - r.start) as u64).sum();
    let topic_count = {
        let mut t: Vec<&str> = ranges.iter().map(|r| r.topic.as_str()).collect();
        t.dedup();
        t.len()
    };
    let mut reporter =
        progress::Reporter::start(options.progress, total, ranges.len(), topic_count);

    let (tx, mut rx) = mpsc::channel::<Vec<Item>>(16);
    let shared = std::sync::Arc::new(ranges.clone());
    let readers: Vec<_> = consumers
        .into_iter()
        .map(|(topic, consumer)| {
            let own: Vec<usize> = (0..shared.len())
                .filter(|&i| shared[i].topic == topic)
                .collect();
            let (ranges, tx) = (shared.clone(), tx.clone());
            tokio::task::spawn_blocking(move || read::run(consumer, &ranges, &own, stop_ms, tx))
        })
        .collect();
    drop(tx);

    let written = async {
        let mut writer = Writer {
            sink: Sink::new(options.format, &mut *out)?,
            options: &options,
            company_key: options.company.map(|c| trestle_kafka::company_key(&c)),
            ranges: &ranges,
            next: ranges.iter().map(|r| r.start).collect(),
        };
        while let Some(items) = rx.recv().await {
            for item in items {
                writer.item(item, &mut summary, &reporter)?;
            }
            reporter.update(writer.done());
        }
        writer.sink.finish()?;
        Ok::<_, Error>(())
    }
    .await;
    // On an error the readers see the channel closed and stop; wait for them either way.
    drop(rx);
    let mut joined = Ok(());
    for reader in readers {
        if let Err(e) = reader.await {
            joined = Err(Error::Reader(e.to_string()));
        }
    }
    reporter.finish();
    written?;
    joined?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Creates one consumer per selected topic (the end-of-partition event names only a partition
/// number), plans each partition's offset range for the time window and assigns it by hand.
async fn assign(
    options: &ReplayOptions,
    selected: Vec<plan::Selected>,
    group: &str,
    start_ms: i64,
    stop_ms: i64,
) -> Result<(Vec<(String, BaseConsumer)>, Vec<plan::Range>), Error> {
    let consumers = selected
        .iter()
        .map(|_| consumer(&options.kafka, group))
        .collect::<Result<Vec<_>, Error>>()?;

    let kafka = options.kafka.clone();
    let company = options.company;
    tokio::task::spawn_blocking(move || {
        let ranges = plan::ranges(&consumers[0], &kafka, &selected, company, start_ms, stop_ms)?;
        for (consumer, sel) in consumers.iter().zip(&selected) {
            let mut tpl = TopicPartitionList::new();
            for r in ranges
                .iter()
                .filter(|r| r.topic == sel.topic && r.start < r.end)
            {
                tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.start))
                    .expect("an offset is valid");
            }
            consumer.assign(&tpl).map_err(|source| Error::Assign {
                count: tpl.count(),
                source: Box::new(source),
            })?;
        }
        let consumers: Vec<(String, BaseConsumer)> = selected
            .into_iter()
            .map(|s| s.topic)
            .zip(consumers)
            .collect();
        Ok::<_, Error>((consumers, ranges))
    })
    .await
    .map_err(|e| Error::Reader(e.to_string()))?
}

/// The summary before anything is read: every planned partition with nothing read yet.
fn new_summary(group: String, skipped_topics: Vec<String>, ranges: &[plan::Range]) -> Summary {
    Summary {
        consumer_group: group,
        skipped_topics,
        partitions: ranges
            .iter()
            .map(|r| PartitionStats {
                topic: r.topic.clone(),
                partition: r.partition,
                start_offset: r.start,
                end_offset: r.end,
                records_read: 0,
                events_written: 0,
                stop: None,
            })
            .collect(),
        ..Summary::default()
    }
}

/// A consumer that reads committed records of manually assigned partitions.
fn consumer(kafka: &KafkaOptions, group: &str) -> Result<BaseConsumer, Error> {
    let mut config = kafka.consumer_config(group);
    // The one property replay needs beyond a service consumer's: the end-of-partition event,
    // to finish a partition whose last records before the captured end were aborted.
    config.set("enable.partition.eof", "true");
    config.create().map_err(|source| Error::Client {
        bootstrap: kafka.bootstrap_servers.clone(),
        source: Box::new(source),
    })
}

/// Turns the reader's items into output lines and counts.
struct Writer<'a, W: Write> {
    sink: Sink<W>,
    options: &'a ReplayOptions,
    /// With `--company`, the key records must have.
    company_key: Option<String>,
    ranges: &'a [plan::Range],
    /// Per range, the offset after the last one seen (for progress).
    next: Vec<i64>,
}

impl<W: Write> Writer<'_, W> {
    fn done(&self) -> u64 {
        self.ranges
            .iter()
            .zip(&self.next)
            .map(|(r, n)| (n - r.start).max(0) as u64)
            .sum()
    }

    fn item(
        &mut self,
        item: Item,
        summary: &mut Summary,
        reporter: &progress::Reporter,
    ) -> Result<(), Error> {
        let record = match item {
            Item::Record(record) => record,
            Item::Finished { range, stop } => {
                self.next[range] = self.ranges[range].end;
                summary.partitions[range].stop = Some(stop);
                return Ok(());
            }
            Item::Warning(line) => {
                reporter.note(&format!("trestle-replay: {line}"));
                return Ok(());
            }
            Item::Failed(error) => return Err(error),
        };
        let range = &self.ranges[record.range];
        self.next[record.range] = record.offset + 1;
        summary.records_read += 1;
        summary.partitions[record.range].records_read += 1;
        if let Some(t) = record
            .timestamp_ms
            .and_then(DateTime::from_timestamp_millis)
        {
            summary.saw_timestamp(t);
        }
        if let Some(key) = &self.company_key {
            if record.key.as_deref() != Some(key.as_bytes()) {
                summary.other_companies += 1;
                return Ok(());
            }
        }
        let origin = Origin {
            topic: &range.topic,
            partition: range.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
        };
        let decoded = match record.payload.as_deref() {
            Some(value) => trestle_events::decode(value).map_err(|e| error_chain(&e)),
            None => Err("the record has no value (a tombstone)".to_owned()),
        };
        match decoded {
            Ok(event) => {
                let occurred = event.meta().occurred_at;
                if occurred < self.options.from || occurred >= self.options.to {
                    summary.outside_range += 1;
                    return Ok(());
                }
                self.sink.event(&origin, &event)?;
                summary.events_written += 1;
                summary.partitions[record.range].events_written += 1;
                summary.saw_occurred(occurred);
                *summary
                    .events_by_type
                    .entry(event.name().to_owned())
                    .or_default() += 1;
            }
            Err(error) => {
                reporter.note(&format!(
                    "trestle-replay: undecodable record at {} partition {} offset {}: {error}",
                    range.topic, range.partition, record.offset
                ));
                summary.undecodable += 1;
                if summary.undecodable_records.len() < UNDECODABLE_LISTED {
                    summary.undecodable_records.push(UndecodableRecord {
                        topic: range.topic.clone(),
                        partition: range.partition,
                        offset: record.offset,
                        error: error.clone(),
                    });
                }
                if self.options.include_undecodable {
                    self.sink.undecodable(
                        &origin,
                        record.key.as_deref(),
                        record.payload.as_deref(),
                        &error,
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// An error and its causes, "outer: inner: innermost".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
