//! How far a consumer group has got on a topic: its committed offsets, fetched without joining
//! the group, polled until they reach the end, with a progress line every few seconds.
//!
//! The engine and the raw transactional loop commit their offsets in the same Kafka
//! transaction as their outputs, so a committed offset is also the moment the outputs of the
//! records below it became visible to read_committed readers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use trestle_kafka::KafkaOptions;

/// End offsets of a topic, by partition.
pub(crate) type Ends = BTreeMap<i32, i64>;

/// The end offsets of a physical topic.
pub(crate) fn ends(options: &KafkaOptions, topic: &str) -> anyhow::Result<Ends> {
    Ok(trestle_testkit::end_offsets(options, topic)
        .with_context(|| format!("reading the end offsets of {topic}"))?
        .into_iter()
        .collect())
}

/// Reads one group's committed offsets of one topic.
pub(crate) struct GroupProgress {
    consumer: Arc<BaseConsumer>,
    topic: String,
    ends: Ends,
}

/// When a run first showed committed progress and when it reached the end.
pub(crate) struct Finished {
    pub started: Instant,
    /// First poll that saw any committed record, and how many were committed then.
    pub first: Option<(Instant, i64)>,
    /// First poll that saw everything committed, or the last poll when `done < total`.
    pub last: Instant,
    /// Records committed at `last`.
    pub done: i64,
}

impl Finished {
    /// Records per second from the first committed outcome seen to the last.
    pub(crate) fn steady_rate(&self) -> Option<f64> {
        let (at, done_then) = self.first?;
        let secs = (self.last - at).as_secs_f64();
        (secs > 0.0).then(|| (self.done - done_then) as f64 / secs)
    }

    /// From start (before the group joined) to the last commit seen.
    pub(crate) fn wall(&self) -> Duration {
        self.last - self.started
    }

    /// From start to the first commit seen (group join, first fetch, first transaction).
    pub(crate) fn to_first(&self) -> Option<Duration> {
        self.first.map(|(at, _)| at - self.started)
    }
}

impl GroupProgress {
    pub(crate) fn new(
        options: &KafkaOptions,
        group: &str,
        topic: &str,
        ends: Ends,
    ) -> anyhow::Result<Self> {
        let mut config = options.consumer_config(group);
        // read_committed would ask the broker for stable offsets only, which it refuses (and
        // librdkafka retries) while the group has a transaction open — nearly always here. The
        // offsets returned either way are those of committed transactions only.
        config.set("isolation.level", "read_uncommitted");
        let consumer: BaseConsumer = config
            .create()
            .context("creating the offset-reading consumer")?;
        Ok(GroupProgress {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
            ends,
        })
    }

    pub(crate) fn total(&self) -> i64 {
        self.ends.values().sum()
    }

    /// Records committed: the sum over partitions of the committed offset, capped at the end
    /// (the topics read hold only the benchmark's non-transactional records, so offsets are
    /// dense from 0).
    pub(crate) async fn done(&self) -> anyhow::Result<i64> {
        let mut tpl = TopicPartitionList::new();
        for p in self.ends.keys() {
            tpl.add_partition(&self.topic, *p);
        }
        let consumer = self.consumer.clone();
        // A blocking broker round trip: keep it off the runtime the measured loop uses.
        let committed = tokio::task::spawn_blocking(move || {
            consumer.committed_offsets(tpl, Duration::from_secs(10))
        })
        .await
        .context("joining the offset fetch")?
        .context("fetching committed offsets")?;
        Ok(committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o.min(self.ends.get(&e.partition()).copied().unwrap_or(0)),
                _ => 0,
            })
            .sum())
    }

    /// Polls every `every` until `total` records are committed or `deadline` passes (then it
    /// returns what it saw, `done < total`). Prints a progress line every 5 s, labelled.
    pub(crate) async fn wait(
        &self,
        label: &str,
        started: Instant,
        every: Duration,
        deadline: Instant,
    ) -> anyhow::Result<Finished> {
        let total = self.total();
        let mut first = None;
        let mut next_line = Instant::now() + Duration::from_secs(5);
        loop {
            let done = self.done().await?;
            let now = Instant::now();
            if first.is_none() && done > 0 {
                first = Some((now, done));
            }
            if done >= total || now >= deadline {
                return Ok(Finished {
                    started,
                    first,
                    last: now,
                    done,
                });
            }
            if now >= next_line {
                eprintln!(
                    "    {label}: {done} of {total} committed after {:.1} s",
                    (now - started).as_secs_f64()
                );
                next_line += Duration::from_secs(5);
            }
            tokio::time::sleep(every).await;
        }
    }
}
