//! Reading a topic back in a test: every committed record up to the end of each partition.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

/// A record read back from a topic.
pub use trestle_kafka::OwnedRecord as ReadRecord;

/// Reads a physical topic from the start (read_committed, partitions assigned by hand, no group
/// join) until at least `n` records arrived **and** every partition is at its end, so records
/// beyond the `n` expected (duplicates) that are already committed are returned too. Fails the
/// test if that does not happen within `timeout`.
pub async fn read_topic(
    options: &KafkaOptions,
    topic: &str,
    n: usize,
    timeout: Duration,
) -> Vec<ReadRecord> {
    crate::stack::require_kafka();
    let group = format!("{}reader-{}", options.topic_prefix, Uuid::new_v4().simple());
    let mut config = options.consumer_config(&group);
    config.set("enable.partition.eof", "true");
    let consumer: StreamConsumer = config.create().expect("consumer");
    let partitions = partition_count(&consumer, topic);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("a valid offset");
    }
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    let mut at_end = HashSet::new();
    let deadline = Instant::now() + timeout;
    while out.len() < n || at_end.len() < partitions as usize {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(m)) => {
                at_end.remove(&m.partition());
                out.push(ReadRecord::from_message(&m));
            }
            Ok(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Ok(Err(e)) => panic!("reading {topic}: {e}"),
            Err(_) => break,
        }
    }
    trestle_kafka::consumer::close(consumer).await;
    assert!(
        out.len() >= n,
        "read {} of {n} records from {topic} within {timeout:?}",
        out.len()
    );
    out
}

fn partition_count(consumer: &StreamConsumer, topic: &str) -> i32 {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    let count = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    assert!(
        count > 0,
        "topic {topic} has no partitions (does it exist?)"
    );
    count
}
