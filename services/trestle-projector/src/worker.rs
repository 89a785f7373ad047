//! The usage projector loop: batch records, apply them with their offsets in one Postgres
//! transaction, dead-letter what cannot be decoded, seek from Postgres on assignment.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::time::Instant;
use trestle_events::Event;
use trestle_kafka::{dead_letter_headers, DeadLetterOrigin, EventProducer};

use crate::usage::{apply_batch as apply_usage, Sourced};
use crate::{offsets, Error, OffsetStore, ProjectorConfig};

/// Remembers partitions assigned by a rebalance so the loop can seek them from Postgres.
#[derive(Default, Clone)]
struct Assignments(Arc<Mutex<Vec<i32>>>);

struct Context {
    assigned: Assignments,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut pending = self.assigned.0.lock().expect("assignment lock");
            pending.extend(tpl.elements().iter().map(|e| e.partition()));
        }
    }
}

/// A consumed record, detached from the consumer.
struct Record {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

/// Runs the usage projector until `shutdown` resolves; failures restart it with backoff.
pub async fn run(
    config: ProjectorConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    trestle_store::migrate_shard(&config.postgres).await?;
    let pool = trestle_store::connect(&config.postgres).await?;
    let producer = EventProducer::new(&config.kafka)?;
    let mut delay = Duration::from_millis(100);
    loop {
        match session(&config, &pool, &producer, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(error) => {
                tracing::warn!(message = "Projector session failed; restarting from Postgres offsets.", %error, retry_in_ms = delay.as_millis() as u64);
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn session(
    config: &ProjectorConfig,
    pool: &sqlx::PgPool,
    producer: &EventProducer,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), Error> {
    let topic = config.kafka.topic("usage");
    let assigned = Assignments::default();
    let consumer: StreamConsumer<Context> = config
        .kafka
        .consumer_config(&config.group_id)
        .create_with_context(Context {
            assigned: assigned.clone(),
        })
        .map_err(|source| Error::Setup {
            what: "consumer",
            source,
        })?;
    consumer
        .subscribe(&[&topic])
        .map_err(|source| Error::Consume {
            topic: topic.clone(),
            source,
        })?;
    let result = consume(
        config, pool, producer, shutdown, &consumer, &assigned, &topic,
    )
    .await;
    trestle_kafka::consumer::close(consumer).await;
    result
}

async fn consume(
    config: &ProjectorConfig,
    pool: &sqlx::PgPool,
    producer: &EventProducer,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
    consumer: &StreamConsumer<Context>,
    assigned: &Assignments,
    topic: &str,
) -> Result<(), Error> {
    let detach = |m: Result<BorrowedMessage<'_>, rdkafka::error::KafkaError>| {
        m.map(|m| Record {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
        })
        .map_err(|source| Error::Consume {
            topic: topic.to_string(),
            source,
        })
    };
    loop {
        let first = tokio::select! {
            _ = &mut *shutdown => return Ok(()),
            m = consumer.recv() => detach(m)?,
        };
        seek_assigned(consumer, assigned, pool, config, topic).await?;
        let mut batch = vec![first];
        let deadline = Instant::now() + Duration::from_millis(config.batch_max_wait_ms);
        while batch.len() < config.batch_max_records {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(m) => batch.push(detach(m)?),
                Err(_) => break,
            }
        }
        trestle_telemetry::records_consumed("projector", batch.len());
        let next = apply_batch(config, pool, producer, topic, batch).await?;
        // For lag display only: correctness rests on the offsets in Postgres (except in
        // `OffsetStore::KafkaAfterWrite`, the benchmark baseline, where this is all there is).
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in next {
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(offset));
        }
        if let Err(error) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(message = "Could not commit offsets to Kafka (lag display only).", %error);
        }
    }
}

/// Seeks newly assigned partitions to the offsets stored in Postgres. Best effort: records
/// below the stored offset are skipped inside the batch transaction anyway.
async fn seek_assigned(
    consumer: &StreamConsumer<Context>,
    assigned: &Assignments,
    pool: &sqlx::PgPool,
    config: &ProjectorConfig,
    topic: &str,
) -> Result<(), Error> {
    let partitions: Vec<i32> = std::mem::take(&mut *assigned.0.lock().expect("assignment lock"));
    if partitions.is_empty() || config.offsets == OffsetStore::KafkaAfterWrite {
        return Ok(()); // the consumer resumes from Kafka's committed offsets
    }
    let stored = offsets::read(pool, &config.projector, topic)
        .await
        .map_err(|source| Error::Postgres {
            topic: topic.to_string(),
            source,
        })?;
    for p in partitions {
        if let Some(&offset) = stored.get(&p) {
            if let Err(error) =
                consumer.seek(topic, p, Offset::Offset(offset), Duration::from_secs(5))
            {
                tracing::debug!(message = "Seek after assignment failed; relying on the offset filter.", partition = p, %error);
            }
        }
    }
    Ok(())
}

/// Applies a batch in one transaction; returns the next offset of each partition touched.
async fn apply_batch(
    config: &ProjectorConfig,
    pool: &sqlx::PgPool,
    producer: &EventProducer,
    topic: &str,
    batch: Vec<Record>,
) -> Result<BTreeMap<i32, i64>, Error> {
    let pg = |source| Error::Postgres {
        topic: topic.to_string(),
        source,
    };
    let mut partitions: Vec<i32> = batch.iter().map(|r| r.partition).collect();
    partitions.sort_unstable();
    partitions.dedup();

    let mut tx = pool.begin().await.map_err(pg)?;
    let stored = match config.offsets {
        OffsetStore::Postgres => offsets::lock(&mut tx, &config.projector, topic, &partitions)
            .await
            .map_err(pg)?,
        OffsetStore::KafkaAfterWrite => BTreeMap::new(), // nothing stored, nothing skipped
    };
    let mut next = stored.clone();
    let mut usage = Vec::with_capacity(batch.len());
    let mut dead = Vec::new();
    let mut fresh = 0usize;
    for record in batch {
        let from = stored.get(&record.partition).copied().unwrap_or(0);
        if record.offset < from {
            continue; // already applied by an earlier transaction
        }
        fresh += 1;
        let e = next.entry(record.partition).or_insert(0);
        *e = (*e).max(record.offset + 1);
        match validate(&record) {
            Ok(u) => usage.push(Sourced {
                usage: u,
                partition: record.partition,
                offset: record.offset,
            }),
            Err(reason) => dead.push((record, reason)),
        }
    }

    // Dead letters are acknowledged before the offsets move past them: at worst a crash
    // re-sends one, never loses one.
    for (record, reason) in &dead {
        dead_letter(config, producer, topic, record, reason).await?;
    }
    let duplicates = apply_usage(&mut tx, topic, usage).await.map_err(pg)?;
    if config.offsets == OffsetStore::Postgres {
        offsets::advance(&mut tx, &config.projector, topic, &next)
            .await
            .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)?;
    trestle_telemetry::projector_batch("usage", fresh, duplicates);
    Ok(next)
}

fn validate(record: &Record) -> Result<trestle_events::UsageRecorded, String> {
    let payload = record.payload.as_deref().ok_or("record has no value")?;
    match trestle_events::decode(payload).map_err(|e| e.to_string())? {
        Event::UsageRecorded(u) => {
            let expected = trestle_kafka::company_key(&u.meta.company_id);
            if record.key.as_deref() != Some(expected.as_bytes()) {
                return Err(format!(
                    "record key is not the event's company_id {expected}"
                ));
            }
            if u.meter == trestle_events::Meter::Unknown {
                return Err("usage has an unknown meter".into());
            }
            Ok(u)
        }
        other => Err(format!(
            "{} does not belong on the usage topic",
            other.name()
        )),
    }
}

async fn dead_letter(
    config: &ProjectorConfig,
    producer: &EventProducer,
    topic: &str,
    record: &Record,
    reason: &str,
) -> Result<(), Error> {
    trestle_telemetry::dead_lettered("projector", topic, record.partition, record.offset, reason);
    let dlq = config.kafka.topic("dead-letter");
    let headers = dead_letter_headers(&DeadLetterOrigin {
        topic: topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        error: reason.to_string(),
        consumer: config.group_id.clone(),
    });
    let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&dlq).headers(headers);
    if let Some(k) = record.key.as_deref() {
        rec = rec.key(k);
    }
    if let Some(p) = record.payload.as_deref() {
        rec = rec.payload(p);
    }
    producer
        .client()
        .send(rec, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(|(source, _)| Error::DeadLetter {
            topic: topic.to_string(),
            partition: record.partition,
            offset: record.offset,
            source,
        })
}
