//! Step 2 of a rebuild: read the projection's topics from the beginning by manual assignment
//! (no consumer group joined, nothing committed) and project them into the rebuild schema up
//! to given offsets, holding back (and pausing) what lies beyond.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::{kafka, Error};
use crate::projection::{Projection, Record};
use crate::worker::apply_batch;
use crate::ProjectorConfig;

/// Next offset per (topic, partition).
pub(super) type Offsets = BTreeMap<(String, i32), i64>;

/// Reads the projection's topics from the beginning by manual assignment and projects them.
pub(super) struct Reader {
    consumer: Option<StreamConsumer>,
    topics: Vec<(String, &'static str)>,
    partitions: BTreeMap<String, Vec<i32>>,
    /// Records at or past a partition's target, held (and the partition paused) until a later
    /// target covers them.
    held: BTreeMap<(String, i32), Vec<Record>>,
    paused: BTreeSet<(String, i32)>,
    /// Next offset applied into the rebuild schema.
    next: Offsets,
    /// Every record key that is a company id.
    pub(super) keys: BTreeSet<Uuid>,
    pub(super) records: u64,
    name: String,
    progress: bool,
    started: Instant,
    reported: Instant,
}

impl Reader {
    pub(super) fn new(
        config: &ProjectorConfig,
        projection: &dyn Projection,
        name: &str,
        progress: bool,
    ) -> Result<Self, Error> {
        let topics: Vec<(String, &'static str)> = projection
            .topics()
            .iter()
            .map(|l| (config.kafka.topic(l), *l))
            .collect();
        // A group id because librdkafka wants one; it is never joined (manual assignment) and
        // nothing is committed to it.
        let group = format!("{}-rebuild-{}", config.group_id(), Uuid::now_v7().simple());
        let consumer: StreamConsumer = config
            .kafka
            .consumer_config(&group)
            .create()
            .map_err(kafka("creating the rebuild consumer"))?;
        let mut partitions = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for (topic, _) in &topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .map_err(kafka(format!("reading the metadata of {topic}")))?;
            let count = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len() as i32);
            if count == 0 {
                return Err(Error::NoPartitions {
                    topic: topic.clone(),
                });
            }
            for p in 0..count {
                tpl.add_partition_offset(topic, p, Offset::Beginning)
                    .map_err(kafka("assigning the rebuild consumer"))?;
            }
            partitions.insert(topic.clone(), (0..count).collect());
        }
        consumer
            .assign(&tpl)
            .map_err(kafka("assigning the rebuild consumer"))?;
        Ok(Reader {
            consumer: Some(consumer),
            topics,
            partitions,
            held: BTreeMap::new(),
            paused: BTreeSet::new(),
            next: BTreeMap::new(),
            keys: BTreeSet::new(),
            records: 0,
            name: name.to_owned(),
            progress,
            started: Instant::now(),
            reported: Instant::now(),
        })
    }

    /// Every partition read, by topic.
    pub(super) fn partitions(&self) -> &BTreeMap<String, Vec<i32>> {
        &self.partitions
    }

    fn consumer(&self) -> &StreamConsumer {
        self.consumer.as_ref().expect("consumer open until close")
    }

    /// Projects every record below `targets` (per partition) into the rebuild schema.
    pub(super) async fn catch_up(
        &mut self,
        config: &ProjectorConfig,
        projection: &dyn Projection,
        pool: &PgPool,
        targets: &Offsets,
    ) -> Result<(), Error> {
        loop {
            let behind = targets
                .iter()
                .any(|(k, t)| self.next.get(k).copied().unwrap_or(0) < *t);
            if !behind {
                self.report(targets, true);
                return Ok(());
            }
            let batch = self.next_batch(config, targets).await?;
            if batch.is_empty() {
                self.report(targets, false);
                continue;
            }
            self.keys.extend(batch.iter().filter_map(company_key));
            let count = batch.len() as u64;
            let next = apply_batch(config, projection, pool, None, batch)
                .await
                .map_err(|e| Error::Project(Box::new(e)))?;
            self.records += count;
            self.next.extend(next);
            self.report(targets, false);
        }
    }

    /// The next batch below the targets: held records now below their target first (their
    /// partitions resume), then what the consumer delivers within the batch wait.
    async fn next_batch(
        &mut self,
        config: &ProjectorConfig,
        targets: &Offsets,
    ) -> Result<Vec<Record>, Error> {
        let target = |key: &(String, i32)| targets.get(key).copied().unwrap_or(0);
        let mut batch = Vec::new();
        let keys: Vec<(String, i32)> = self.held.keys().cloned().collect();
        for key in keys {
            let held = self.held.get_mut(&key).expect("held key");
            let split = held.partition_point(|r| r.offset < target(&key));
            batch.extend(held.drain(..split));
            if held.is_empty() {
                self.held.remove(&key);
                if self.paused.remove(&key) {
                    self.pause(&key, false)?;
                }
            }
        }
        let deadline = tokio::time::Instant::now()
            + if batch.is_empty() {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(config.batch_max_wait_ms)
            };
        while batch.len() < config.batch_max_records {
            let Ok(m) = tokio::time::timeout_at(deadline, self.consumer().recv()).await else {
                break;
            };
            let m = m.map_err(kafka("reading the projection's topics"))?;
            let logical = self
                .topics
                .iter()
                .find(|(p, _)| p == m.topic())
                .map_or("", |(_, l)| *l);
            let record = Record {
                record: trestle_kafka::OwnedRecord::from_message(&m),
                logical_topic: logical,
            };
            drop(m);
            let key = (record.topic.clone(), record.partition);
            if record.offset < target(&key) {
                batch.push(record);
            } else {
                if self.paused.insert(key.clone()) {
                    self.pause(&key, true)?;
                }
                self.held.entry(key).or_default().push(record);
            }
        }
        Ok(batch)
    }

    /// Pauses (or resumes) fetching one partition.
    fn pause(&self, key: &(String, i32), pause: bool) -> Result<(), Error> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&key.0, key.1);
        let consumer = self.consumer();
        if pause {
            consumer.pause(&tpl)
        } else {
            consumer.resume(&tpl)
        }
        .map_err(kafka(format!("pausing or resuming {}[{}]", key.0, key.1)))
    }

    fn report(&mut self, targets: &Offsets, last: bool) {
        if !self.progress || (!last && self.reported.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.reported = Instant::now();
        let done: i64 = targets
            .keys()
            .map(|k| self.next.get(k).copied().unwrap_or(0).min(targets[k]))
            .sum();
        let total: i64 = targets.values().sum();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "rebuild {}: {done}/{total} offsets done, {} records projected, {:.0} records/s",
            self.name,
            self.records,
            self.records as f64 / secs
        );
    }

    pub(super) async fn close(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            let _ = consumer.unassign();
            let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        }
    }
}

/// The company a record's key names, if it is a company id.
fn company_key(r: &Record) -> Option<Uuid> {
    r.key
        .as_deref()
        .and_then(|k| std::str::from_utf8(k).ok())
        .and_then(|k| Uuid::parse_str(k).ok())
}
