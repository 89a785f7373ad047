//! The consume-transform-produce loop: one Kafka transaction per batch of requests.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use trestle_kafka::{dead_letter_headers, DeadLetterOrigin};

use crate::provider::ProviderClient;
use crate::transform::{handle, Action, InRecord};
use crate::{EngineConfig, Error};

const TXN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the engine until `shutdown` resolves; transient failures restart the loop with backoff.
pub async fn run(config: EngineConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let client = ProviderClient::new(config.provider.clone());
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = Session::start(&config, client.clone());
        let result = match attempt {
            Ok(session) => {
                let result = session.run(&mut shutdown).await;
                trestle_kafka::consumer::close(session.consumer).await;
                result
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(error) => {
                tracing::warn!(message = "Engine session failed; restarting from committed offsets.", %error, retry_in_ms = delay.as_millis() as u64);
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One consumer plus one transactional producer; dropped and rebuilt after any failure.
struct Session {
    config: EngineConfig,
    client: ProviderClient,
    consumer: StreamConsumer,
    producer: FutureProducer,
    requests_topic: String,
    dead_letter_topic: String,
}

impl Session {
    fn start(config: &EngineConfig, client: ProviderClient) -> Result<Self, Error> {
        let kafka = &config.kafka;
        let requests_topic = kafka.topic("ai-requests");
        let mut consumer_config = kafka.consumer_config(&config.group_id);
        let instance = if config.instance_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            consumer_config.set("group.instance.id", &config.instance_id);
            config.instance_id.clone()
        };
        let consumer: StreamConsumer = consumer_config.create().map_err(|source| Error::Setup {
            what: "consumer",
            source,
        })?;
        consumer
            .subscribe(&[&requests_topic])
            .map_err(|source| Error::Consume {
                topic: requests_topic.clone(),
                source,
            })?;
        let txn_id = format!("{}-{}", config.group_id, instance);
        let producer: FutureProducer = kafka
            .transactional_producer_config(&txn_id)
            .create()
            .map_err(|source| Error::Setup {
                what: "transactional producer",
                source,
            })?;
        producer
            .init_transactions(TXN_TIMEOUT)
            .map_err(|source| Error::Transaction {
                step: "init",
                source,
            })?;
        Ok(Session {
            config: config.clone(),
            client,
            consumer,
            producer,
            requests_topic,
            dead_letter_topic: kafka.topic("dead-letter"),
        })
    }

    async fn run(&self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Result<(), Error> {
        loop {
            let first = tokio::select! {
                _ = &mut *shutdown => return Ok(()),
                m = self.consumer.recv() => m,
            };
            let mut batch = vec![self.detach(first)?];
            let deadline = Instant::now() + Duration::from_millis(self.config.batch_max_wait_ms);
            while batch.len() < self.config.batch_max_records {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(m) => batch.push(self.detach(m)?),
                    Err(_) => break,
                }
            }
            trestle_telemetry::records_consumed("engine", batch.len());
            if let Err(error) = self.process(&batch).await {
                let _ = self.producer.abort_transaction(TXN_TIMEOUT);
                trestle_telemetry::transaction("aborted");
                return Err(error);
            }
            trestle_telemetry::transaction("committed");
        }
    }

    fn detach(
        &self,
        message: Result<rdkafka::message::BorrowedMessage<'_>, rdkafka::error::KafkaError>,
    ) -> Result<InRecord, Error> {
        let m = message.map_err(|source| Error::Consume {
            topic: self.requests_topic.clone(),
            source,
        })?;
        Ok(InRecord {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
        })
    }

    /// Handles a batch and commits its outputs and offsets in one transaction.
    async fn process(&self, batch: &[InRecord]) -> Result<(), Error> {
        let prices = &self.config.price_book;
        // Provider calls run concurrently; `buffered` keeps log order for the outputs.
        let calls: Vec<_> = batch
            .iter()
            .map(|record| handle(record, &self.client, prices))
            .collect();
        let actions: Vec<Action> = futures::stream::iter(calls)
            .buffered(self.config.concurrency.max(1))
            .collect()
            .await;

        self.producer
            .begin_transaction()
            .map_err(|source| Error::Transaction {
                step: "begin",
                source,
            })?;
        let mut deliveries = Vec::new();
        for (record, action) in batch.iter().zip(actions) {
            match action {
                Action::Publish(events) => {
                    for event in events {
                        let topic = self.config.kafka.topic(event.topic().name());
                        let payload =
                            trestle_events::encode(&event).map_err(|source| Error::Encode {
                                event: event.name(),
                                source,
                            })?;
                        let key = trestle_kafka::company_key(&event.meta().company_id);
                        let rec = FutureRecord::to(&topic).key(&key).payload(&payload);
                        deliveries.push((topic.clone(), self.enqueue(rec)?));
                    }
                }
                Action::DeadLetter(reason) => {
                    trestle_telemetry::dead_lettered(
                        "engine",
                        &record.topic,
                        record.partition,
                        record.offset,
                        &reason,
                    );
                    let headers = dead_letter_headers(&DeadLetterOrigin {
                        topic: record.topic.clone(),
                        partition: record.partition,
                        offset: record.offset,
                        error: reason,
                        consumer: self.config.group_id.clone(),
                    });
                    let mut rec: FutureRecord<'_, [u8], [u8]> =
                        FutureRecord::to(&self.dead_letter_topic).headers(headers);
                    if let Some(k) = record.key.as_deref() {
                        rec = rec.key(k);
                    }
                    if let Some(p) = record.payload.as_deref() {
                        rec = rec.payload(p);
                    }
                    deliveries.push((self.dead_letter_topic.clone(), self.enqueue(rec)?));
                }
            }
        }

        let offsets = next_offsets(batch)?;
        let group = self.consumer.group_metadata().ok_or(Error::Transaction {
            step: "group metadata",
            source: rdkafka::error::KafkaError::Canceled,
        })?;
        self.producer
            .send_offsets_to_transaction(&offsets, &group, TXN_TIMEOUT)
            .map_err(|source| Error::Transaction {
                step: "send offsets",
                source,
            })?;
        self.producer
            .commit_transaction(TXN_TIMEOUT)
            .map_err(|source| Error::Transaction {
                step: "commit",
                source,
            })?;
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
        Ok(())
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

/// The offsets to commit for a batch: one past the last record of each partition.
fn next_offsets(batch: &[InRecord]) -> Result<TopicPartitionList, Error> {
    let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for r in batch {
        let e = last
            .entry((r.topic.as_str(), r.partition))
            .or_insert(r.offset);
        *e = (*e).max(r.offset);
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in last {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset + 1))
            .map_err(|source| Error::Transaction {
                step: "offsets",
                source,
            })?;
    }
    Ok(tpl)
}
