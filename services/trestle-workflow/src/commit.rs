//! One Kafka transaction per commit — the finished records' events and every partition's commit
//! point — run on its own task, so the session loop keeps polling, dispatching and collecting
//! while the broker commits.
//!
//! At most one commit is in flight; what finishes meanwhile waits for the next. Safety while the
//! loop polls during a commit (and so may see a rebalance): the transaction's offsets carry the
//! consumer group generation it was built under. A partition's new owner is assigned only in a
//! later generation, in which these offsets are refused (the commit fails and is aborted), and
//! its offset fetch waits for a transaction still pending on the partition (KIP-447). So the new
//! owner sees either this commit's outputs and offsets together, or neither.

use std::collections::BTreeMap;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::TopicPartitionList;
use trestle_events::Event;
use trestle_kafka::{DeadLetterer, KafkaOptions};
use trestle_scheduler::CommitPoint;

use trestle_kafka::OwnedRecord;

use crate::Error;

/// Longest any single transactional call may take.
pub(crate) const TXN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// An output of a finished record, waiting for a commit.
pub(crate) enum Output {
    /// An event, encoded by its request task so the session loop only hands bytes over.
    Encoded {
        topic: String,
        key: String,
        payload: Vec<u8>,
    },
    /// An event that could not be encoded (a bug): the commit fails and the session restarts.
    Unencodable { event: &'static str, reason: String },
    /// A record that is not a valid request, for the dead-letter topic.
    DeadLetter { record: OwnedRecord, reason: String },
}

impl Output {
    pub(crate) fn encode(event: &Event, kafka: &KafkaOptions) -> Output {
        match trestle_events::encode(event) {
            Ok(payload) => Output::Encoded {
                topic: kafka.topic(event.topic().name()),
                key: event.key(),
                payload,
            },
            Err(error) => Output::Unencodable {
                event: event.name(),
                reason: error.to_string(),
            },
        }
    }
}

/// What one transaction publishes.
pub(crate) struct Batch {
    /// Finished records' outputs by partition.
    pub outputs: BTreeMap<i32, Vec<Output>>,
    /// Events that belong to no record (e.g. breaker transitions), encoded.
    pub side: Vec<Output>,
    /// Each changed partition's commit point, as offsets with metadata.
    pub offsets: TopicPartitionList,
    pub points: Vec<(i32, CommitPoint)>,
    /// Each partition's assignment epoch when the batch was taken: a partition revoked since
    /// must not get its outputs back after a failure, even if it was assigned again.
    pub epochs: BTreeMap<i32, u64>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.points.is_empty() && self.outputs.is_empty() && self.side.is_empty()
    }
}

/// Publishes batches through the session's transactional producer.
#[derive(Clone)]
pub(crate) struct Committer {
    pub producer: FutureProducer,
    pub dead_letter_topic: String,
    pub group_id: String,
    /// The workflow's name, the dead letters' origin.
    pub name: &'static str,
}

impl Committer {
    /// Runs one transaction on its own task; hands the batch back with the result.
    pub(crate) fn spawn(
        &self,
        batch: Batch,
        group: ConsumerGroupMetadata,
    ) -> tokio::task::JoinHandle<(Batch, Result<(), Error>)> {
        let committer = self.clone();
        tokio::spawn(async move {
            let result = committer.transact(&batch, &group).await;
            (batch, result)
        })
    }

    /// Aborts the failed transaction.
    pub(crate) fn abort(&self) -> Result<(), Error> {
        tokio::task::block_in_place(|| self.producer.abort_transaction(TXN_TIMEOUT)).map_err(
            |source| Error::Transaction {
                step: "abort",
                source,
            },
        )
    }

    async fn transact(&self, batch: &Batch, group: &ConsumerGroupMetadata) -> Result<(), Error> {
        let step = |step: &'static str| move |source| Error::Transaction { step, source };
        self.producer.begin_transaction().map_err(step("begin"))?;
        let mut deliveries = Vec::new();
        for output in batch.outputs.values().flatten().chain(&batch.side) {
            match output {
                Output::Encoded {
                    topic,
                    key,
                    payload,
                } => {
                    let record = FutureRecord::to(topic).key(key).payload(payload);
                    deliveries.push((topic.clone(), self.enqueue(record)?));
                }
                Output::Unencodable { event, reason } => {
                    return Err(Error::Unencodable {
                        event,
                        reason: reason.clone(),
                    })
                }
                Output::DeadLetter { record, reason } => {
                    let delivery = self.dead_letter(record, reason)?;
                    deliveries.push((self.dead_letter_topic.clone(), delivery));
                }
            }
        }
        // Wait for the acks first, without blocking: commit_transaction would otherwise flush
        // with records in flight and sleep in its poll loop (~100 ms a commit).
        for (topic, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((source, _))) => return Err(Error::Produce { topic, source }),
                Err(_) => {
                    return Err(Error::Produce {
                        topic,
                        source: rdkafka::error::KafkaError::Canceled,
                    })
                }
            }
        }
        let producer = &self.producer;
        if batch.offsets.count() > 0 {
            tokio::task::block_in_place(|| {
                producer.send_offsets_to_transaction(&batch.offsets, group, TXN_TIMEOUT)
            })
            .map_err(step("send offsets"))?;
        }
        tokio::task::block_in_place(|| producer.commit_transaction(TXN_TIMEOUT))
            .map_err(step("commit"))
    }

    fn dead_letter(
        &self,
        record: &OwnedRecord,
        reason: &str,
    ) -> Result<rdkafka::producer::DeliveryFuture, Error> {
        let letterer = DeadLetterer::to_topic(&self.dead_letter_topic, &self.group_id, self.name);
        Ok(letterer.enqueue(&self.producer, record, reason)?)
    }

    fn enqueue<K, P>(
        &self,
        record: FutureRecord<'_, K, P>,
    ) -> Result<rdkafka::producer::DeliveryFuture, Error>
    where
        K: rdkafka::message::ToBytes + ?Sized,
        P: rdkafka::message::ToBytes + ?Sized,
    {
        let topic = record.topic.to_string();
        self.producer
            .send_result(record)
            .map_err(|(source, _)| Error::Produce { topic, source })
    }
}
