//! The projector loop, the same for every projection: batch records, apply them with their
//! offsets in one Postgres transaction, dead-letter what cannot be decoded, seek from Postgres
//! on assignment.

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
use trestle_kafka::{dead_letter_headers, DeadLetterOrigin, EventProducer};

use crate::projection::{Projection, Record, Sourced};
use crate::{offsets, Error, OffsetStore, ProjectorConfig};

/// Remembers partitions assigned by a rebalance so the loop can seek them from Postgres.
#[derive(Default, Clone)]
struct Assignments(Arc<Mutex<Vec<(String, i32)>>>);

struct Context {
    assigned: Assignments,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut pending = self.assigned.0.lock().expect("assignment lock");
            pending.extend(
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition())),
            );
        }
    }
}

/// Runs `projection` until `shutdown` resolves; failures restart it with backoff. The database
/// must be migrated.
pub async fn run_projection(
    config: ProjectorConfig,
    projection: Arc<dyn Projection>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    tokio::pin!(shutdown);
    let pool = trestle_store::connect(&config.postgres).await?;
    let producer = EventProducer::new(&config.kafka)?;
    let mut delay = Duration::from_millis(100);
    loop {
        match session(&config, &*projection, &pool, &producer, &mut shutdown).await {
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
    projection: &dyn Projection,
    pool: &sqlx::PgPool,
    producer: &EventProducer,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), Error> {
    let topics: Vec<(String, &'static str)> = projection
        .topics()
        .iter()
        .map(|logical| (config.kafka.topic(logical), *logical))
        .collect();
    let names: Vec<&str> = topics
        .iter()
        .map(|(physical, _)| physical.as_str())
        .collect();
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
        .subscribe(&names)
        .map_err(|source| Error::Consume {
            topic: names.join(","),
            source,
        })?;
    let result = consume(
        config, projection, pool, producer, shutdown, &consumer, &assigned, &topics,
    )
    .await;
    trestle_kafka::consumer::close(consumer).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn consume(
    config: &ProjectorConfig,
    projection: &dyn Projection,
    pool: &sqlx::PgPool,
    producer: &EventProducer,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
    consumer: &StreamConsumer<Context>,
    assigned: &Assignments,
    topics: &[(String, &'static str)],
) -> Result<(), Error> {
    let logical = |physical: &str| {
        topics
            .iter()
            .find(|(p, _)| p == physical)
            .map_or("", |(_, l)| *l)
    };
    let detach = |m: Result<BorrowedMessage<'_>, rdkafka::error::KafkaError>| {
        m.map(|m| Record {
            topic: m.topic().to_owned(),
            logical_topic: logical(m.topic()),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
        })
        .map_err(|source| Error::Consume {
            topic: topics
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            source,
        })
    };
    loop {
        let first = tokio::select! {
            _ = &mut *shutdown => return Ok(()),
            m = consumer.recv() => detach(m)?,
        };
        seek_assigned(consumer, assigned, pool, config, projection).await?;
        let mut batch = vec![first];
        let deadline = Instant::now() + Duration::from_millis(config.batch_max_wait_ms);
        while batch.len() < config.batch_max_records {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(m) => batch.push(detach(m)?),
                Err(_) => break,
            }
        }
        trestle_telemetry::records_consumed("projector", batch.len());
        let next = apply_batch(config, projection, pool, Some(producer), batch).await?;
        // For lag display only: correctness rests on the offsets in Postgres (except in
        // `OffsetStore::KafkaAfterWrite`, the benchmark baseline, where this is all there is).
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset));
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
    projection: &dyn Projection,
) -> Result<(), Error> {
    let partitions = std::mem::take(&mut *assigned.0.lock().expect("assignment lock"));
    if partitions.is_empty() || config.offsets != OffsetStore::Postgres {
        return Ok(()); // the consumer resumes from Kafka's committed offsets
    }
    let stored = offsets::read(pool, &projector_name(config, projection))
        .await
        .map_err(|source| Error::Postgres {
            topic: "projector_offsets".into(),
            source,
        })?;
    for (topic, p) in partitions {
        if let Some(&offset) = stored.get(&(topic.clone(), p)) {
            if let Err(error) =
                consumer.seek(&topic, p, Offset::Offset(offset), Duration::from_secs(5))
            {
                tracing::debug!(message = "Seek after assignment failed; relying on the offset filter.", partition = p, %error);
            }
        }
    }
    Ok(())
}

/// The name offsets are stored under: the configured `projector`, or the projection's own.
pub(crate) fn projector_name(config: &ProjectorConfig, projection: &dyn Projection) -> String {
    if config.projector.is_empty() {
        projection.name().to_owned()
    } else {
        config.projector.clone()
    }
}

/// Applies a batch in one transaction; returns the next offset of each (topic, partition)
/// touched. Records the projection refuses are dead-lettered through `producer` first, or, with
/// no producer (a rebuild: they were dead-lettered when first projected), passed over.
pub(crate) async fn apply_batch(
    config: &ProjectorConfig,
    projection: &dyn Projection,
    pool: &sqlx::PgPool,
    producer: Option<&EventProducer>,
    batch: Vec<Record>,
) -> Result<BTreeMap<(String, i32), i64>, Error> {
    let name = projector_name(config, projection);
    let topic_of = |batch: &[Record]| batch.first().map(|r| r.topic.clone()).unwrap_or_default();
    let pg = {
        let topic = topic_of(&batch);
        move |source| Error::Postgres {
            topic: topic.clone(),
            source,
        }
    };
    let mut partitions: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for r in &batch {
        partitions
            .entry(r.topic.clone())
            .or_default()
            .push(r.partition);
    }
    let mut tx = pool.begin().await.map_err(pg.clone())?;
    // Topics in name order, partitions in number order: concurrent batches cannot deadlock.
    let mut stored: BTreeMap<(String, i32), i64> = BTreeMap::new();
    if config.offsets == OffsetStore::Postgres {
        for (topic, mut ps) in partitions {
            ps.sort_unstable();
            ps.dedup();
            let locked = offsets::lock(&mut tx, &name, &topic, &ps)
                .await
                .map_err(pg.clone())?;
            stored.extend(locked.into_iter().map(|(p, o)| ((topic.clone(), p), o)));
        }
    }
    let mut next = stored.clone();
    let mut accepted = Vec::with_capacity(batch.len());
    let mut dead = Vec::new();
    let mut fresh = 0usize;
    for record in batch {
        let key = (record.topic.clone(), record.partition);
        // Below the stored offset: applied by an earlier transaction. Below what this batch
        // already took: the same record again (a seek on assignment re-fetches what was
        // buffered), so it is passed over rather than applied twice.
        let from = next.get(&key).copied().unwrap_or(0);
        if record.offset < from {
            continue;
        }
        fresh += 1;
        let e = next.entry(key).or_insert(0);
        *e = (*e).max(record.offset + 1);
        match projection.accept(&record) {
            Ok(Some(event)) => accepted.push(Sourced {
                event,
                topic: record.topic,
                partition: record.partition,
                offset: record.offset,
            }),
            Ok(None) => {}
            Err(reason) => dead.push((record, reason)),
        }
    }
    // Dead letters are acknowledged before the offsets move past them: at worst a crash
    // re-sends one, never loses one.
    if let Some(producer) = producer {
        for (record, reason) in &dead {
            dead_letter(config, producer, record, reason).await?;
        }
    }
    let applied = projection
        .apply(&mut tx, accepted)
        .await
        .map_err(pg.clone())?;
    if config.offsets == OffsetStore::Postgres {
        let mut by_topic: BTreeMap<&str, BTreeMap<i32, i64>> = BTreeMap::new();
        for ((topic, p), o) in &next {
            by_topic.entry(topic).or_default().insert(*p, *o);
        }
        for (topic, offsets) in by_topic {
            offsets::advance(&mut tx, &name, topic, &offsets)
                .await
                .map_err(pg.clone())?;
        }
    }
    tx.commit().await.map_err(pg)?;
    trestle_telemetry::projector_batch(projection.name(), fresh, applied.duplicates);
    Ok(next)
}

async fn dead_letter(
    config: &ProjectorConfig,
    producer: &EventProducer,
    record: &Record,
    reason: &str,
) -> Result<(), Error> {
    let topic = record.topic.as_str();
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
