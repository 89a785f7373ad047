//! Following small, complete topics into memory (the tenant directory, price books): every
//! partition read from the beginning with manual assignment (no consumer group,
//! read_committed), each decoded event handed to a fold, forever, in the background.

use std::collections::HashMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use trestle_events::Event;

use crate::{Error, KafkaOptions};

/// Stops the follower when dropped.
#[derive(Debug)]
pub struct FollowGuard(tokio::task::JoinHandle<()>);

impl Drop for FollowGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a follow stands once it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaughtUp {
    /// Everything that was on the topics at start is folded in.
    Yes,
    /// `catch_up` passed first; the follower goes on in the background.
    NotYet,
}

/// Starts folding every event of the logical `topics` into `fold`, from the beginning, and
/// waits until everything that was on them at start is folded in, or `catch_up` has passed.
/// `name` names the follower in logs and its throwaway group id. The follower runs until the
/// returned guard is dropped; undecodable records are logged and passed over.
pub async fn follow(
    kafka: &KafkaOptions,
    topics: &[&str],
    name: &'static str,
    catch_up: Duration,
    fold: impl Fn(&Event) + Send + 'static,
) -> Result<(FollowGuard, CaughtUp), Error> {
    let group = format!("{}{name}-{}", kafka.topic_prefix, uuid::Uuid::new_v4());
    let consumer: StreamConsumer = kafka
        .consumer_config(&group)
        .create()
        .map_err(|source| Error::Setup { what: name, source })?;
    // A topic created moments ago may not have a leader everywhere yet
    // (NotLeaderForPartition): retry the metadata and watermarks a few times.
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_times(8);
    let mut remaining = (|| async { assign_from_start(&consumer, kafka, topics) })
        .retry(backoff)
        .notify(|error, delay| {
            tracing::warn!(message = "Reading the followed topics failed; retrying.", follower = name, %error, retry_in_ms = delay.as_millis() as u64);
        })
        .await?;
    let (caught_up_tx, caught_up) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut caught_up_tx = Some(caught_up_tx);
        if remaining.is_empty() {
            let _ = caught_up_tx.take().map(|tx| tx.send(()));
        }
        loop {
            match consumer.recv().await {
                Ok(m) => {
                    let (partition, offset) = (m.partition(), m.offset());
                    let at = (m.topic().to_owned(), partition);
                    match m.payload().map(trestle_events::decode) {
                        Some(Ok(event)) => fold(&event),
                        Some(Err(error)) => tracing::warn!(
                            message = "Skipping an undecodable record.",
                            follower = name, topic = m.topic(), partition, offset, %error
                        ),
                        None => {}
                    }
                    drop(m);
                    if remaining.get(&at).is_some_and(|&high| offset + 1 >= high) {
                        remaining.remove(&at);
                    }
                    if remaining.is_empty() {
                        if let Some(tx) = caught_up_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(message = "Reading a followed topic failed; retrying.", follower = name, %error);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    let state = match tokio::time::timeout(catch_up, caught_up).await {
        Ok(_) => CaughtUp::Yes,
        Err(_) => CaughtUp::NotYet,
    };
    Ok((FollowGuard(task), state))
}

/// Assigns every partition of `topics` from the beginning; returns where each non-empty
/// partition ended at start (caught up once every one is reached).
fn assign_from_start(
    consumer: &StreamConsumer,
    kafka: &KafkaOptions,
    topics: &[&str],
) -> Result<HashMap<(String, i32), i64>, Error> {
    let mut tpl = TopicPartitionList::new();
    let mut remaining = HashMap::new();
    for logical in topics {
        let topic = kafka.topic(logical);
        let consume_error = |source| Error::Consume {
            topic: topic.clone(),
            source,
        };
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .map_err(consume_error)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        for p in partitions {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)
                .map_err(consume_error)?;
            let (low, high) = consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(10))
                .map_err(consume_error)?;
            if high > low {
                remaining.insert((topic.clone(), p), high);
            }
        }
    }
    consumer.assign(&tpl).map_err(|source| Error::Consume {
        topic: topics.join(","),
        source,
    })?;
    Ok(remaining)
}
