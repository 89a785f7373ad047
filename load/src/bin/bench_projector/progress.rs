//! How far a projector has got: its offsets in `projector_offsets`, or its consumer group's
//! committed offsets in Kafka, polled until they reach the end of the topic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use trestle_kafka::KafkaOptions;

/// End offsets of a topic, by partition.
pub(crate) type Ends = BTreeMap<i32, i64>;

/// When a projector run first showed progress and when it reached the end.
pub(crate) struct Finished {
    /// First poll that saw any progress, and how many records were done then.
    pub first_progress: Option<(Instant, i64)>,
    pub done: Instant,
}

/// Where progress is read from.
pub(crate) enum Source {
    /// `projector_offsets` rows of a topic (readable by the application role, no tenant).
    Postgres { pool: sqlx::PgPool, topic: String },
    /// The committed offsets of a consumer group, fetched without joining the group.
    Kafka {
        consumer: Arc<BaseConsumer>,
        topic: String,
    },
}

impl Source {
    /// A source reading `group`'s committed offsets of `topic`.
    pub(crate) fn kafka(options: &KafkaOptions, group: &str, topic: &str) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = options
            .consumer_config(group)
            .create()
            .context("creating the offset-reading consumer")?;
        Ok(Source::Kafka {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
        })
    }

    /// Next offset to process per partition (0 where nothing is stored).
    pub(crate) async fn read(&self, ends: &Ends) -> anyhow::Result<BTreeMap<i32, i64>> {
        match self {
            Source::Postgres { pool, topic } => {
                let rows: Vec<(i32, i64)> = sqlx::query_as(
                    "SELECT partition, next_offset FROM projector_offsets WHERE topic = $1",
                )
                .bind(topic)
                .fetch_all(pool)
                .await
                .context("reading projector_offsets")?;
                Ok(rows.into_iter().collect())
            }
            Source::Kafka { consumer, topic } => {
                let mut tpl = TopicPartitionList::new();
                for p in ends.keys() {
                    tpl.add_partition(topic, *p);
                }
                let consumer = consumer.clone();
                // A blocking broker round trip: keep it off the runtime the projector uses.
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
                        Offset::Offset(o) => (e.partition(), o),
                        _ => (e.partition(), 0),
                    })
                    .collect())
            }
        }
    }
}

/// Records done: the sum over partitions of the next offset, capped at the end. The bench's
/// topics hold only its own non-transactional records, so offsets are dense from 0.
pub(crate) fn done(next: &BTreeMap<i32, i64>, ends: &Ends) -> i64 {
    ends.iter()
        .map(|(p, end)| next.get(p).copied().unwrap_or(0).min(*end))
        .sum()
}

/// Polls `source` every `every` until every partition reaches its end, or fails after
/// `timeout`.
pub(crate) async fn wait_for_end(
    source: &Source,
    ends: &Ends,
    every: Duration,
    timeout: Duration,
) -> anyhow::Result<Finished> {
    let total: i64 = ends.values().sum();
    let deadline = Instant::now() + timeout;
    let mut first_progress = None;
    loop {
        let next = source.read(ends).await?;
        let now = Instant::now();
        let done = done(&next, ends);
        if first_progress.is_none() && done > 0 {
            first_progress = Some((now, done));
        }
        if done >= total {
            return Ok(Finished {
                first_progress,
                done: now,
            });
        }
        anyhow::ensure!(
            now < deadline,
            "the projector did {done} of {total} records in {timeout:?}; see its warnings above"
        );
        tokio::time::sleep(every).await;
    }
}
