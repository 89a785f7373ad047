//! The projector loop, the same for every projection: batch records, apply them with their
//! offsets in one Postgres transaction, dead-letter what cannot be decoded, seek from Postgres
//! on assignment.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use trestle_kafka::{
    run_sessions, session_backoff, DeadLetterer, EventProducer, RebalanceQueue, Rebalanced,
    Shutdown,
};

use crate::projection::{Projection, Record, Sourced};
use crate::{offsets, Error, OffsetStore, ProjectorConfig};

/// Runs `projection` until `shutdown` resolves; failures restart it with backoff. The database
/// must be migrated.
pub async fn run_projection(
    config: ProjectorConfig,
    projection: Arc<dyn Projection>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let pool = trestle_store::connect(&config.postgres).await?;
    let producer = EventProducer::new(&config.kafka)?;
    let (config, projection, pool, producer) = (&config, &*projection, &pool, &producer);
    run_sessions(shutdown, session_backoff(), |shutdown: Shutdown| async move {
        session(config, projection, pool, producer, shutdown).await
    })
    .await;
    Ok(())
}

/// One consumer, from subscription to close.
async fn session(
    config: &ProjectorConfig,
    projection: &dyn Projection,
    pool: &sqlx::PgPool,
    producer: &EventProducer,
    shutdown: Shutdown,
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
    let rebalances = RebalanceQueue::default();
    let consumer = trestle_kafka::consumer::subscribe(
        &config.kafka.consumer_config(&config.group_id),
        rebalances.clone(),
        &names,
    )?;
    let mut stop = std::pin::pin!(shutdown.requested());
    let result = consume(
        config,
        projection,
        pool,
        producer,
        &mut stop,
        &consumer,
        &rebalances,
        &topics,
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
    consumer: &StreamConsumer<RebalanceQueue>,
    rebalances: &RebalanceQueue,
    topics: &[(String, &'static str)],
) -> Result<(), Error> {
    let subscribed = topics
        .iter()
        .map(|(p, _)| p.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let detach = |m: Result<BorrowedMessage<'_>, rdkafka::error::KafkaError>| {
        let record = trestle_kafka::consumer::received(m, &subscribed)?;
        let logical_topic = topics
            .iter()
            .find(|(p, _)| *p == record.topic)
            .map_or("", |(_, l)| *l);
        Ok::<_, Error>(Record {
            record,
            logical_topic,
        })
    };
    loop {
        let first = tokio::select! {
            _ = &mut *shutdown => return Ok(()),
            m = consumer.recv() => detach(m)?,
        };
        seek_assigned(consumer, rebalances, pool, config, projection).await?;
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
    consumer: &StreamConsumer<RebalanceQueue>,
    rebalances: &RebalanceQueue,
    pool: &sqlx::PgPool,
    config: &ProjectorConfig,
    projection: &dyn Projection,
) -> Result<(), Error> {
    let partitions: Vec<(String, i32)> = rebalances
        .take()
        .into_iter()
        .flat_map(|change| match change {
            Rebalanced::Assigned(partitions) => partitions,
            Rebalanced::Revoked(_) => Vec::new(),
        })
        .collect();
    if partitions.is_empty() || config.offsets == OffsetStore::KafkaAfterWrite {
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
                topic: record.record.topic,
                partition: record.record.partition,
                offset: record.record.offset,
            }),
            Ok(None) => {}
            Err(reason) => dead.push((record, reason)),
        }
    }
    // Dead letters are acknowledged before the offsets move past them: at worst a crash
    // re-sends one, never loses one.
    if let (Some(producer), false) = (producer, dead.is_empty()) {
        let letterer = DeadLetterer::new(&config.kafka, &config.group_id, "projector");
        for (record, reason) in &dead {
            letterer.send(producer.client(), record, reason).await?;
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
