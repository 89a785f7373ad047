//! The throughput baselines: a raw rdkafka consume → produce loop over the same requests
//! topic, with no decoding, no scheduler and no provider, writing one record of the same size
//! per input record.
//!
//! The transactional loop is the fair comparison with the engine's exactly-once: it produces
//! into a Kafka transaction and commits it with the consumed offsets
//! (`send_offsets_to_transaction`) every 100 ms or 1000 records, the engine's defaults
//! (`commit_interval_ms`, `commit_max_records`). Its variants ([`Mode`]) show what committing
//! with records still in flight costs, and what a non-transactional loop does.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use futures::future::try_join_all;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use trestle_kafka::KafkaOptions;

const TXN_TIMEOUT: Duration = Duration::from_secs(30);
const COMMIT_EVERY: Duration = Duration::from_millis(100);
const COMMIT_RECORDS: usize = 1000;

/// Consumes `total` records of `input` as `group` (read_committed, from the beginning) and
/// writes each one's key and value to `output`, committing as `mode` says.
pub(crate) async fn run(
    kafka: &KafkaOptions,
    group: &str,
    input: &str,
    output: &str,
    total: i64,
    mode: Mode,
) -> anyhow::Result<CommitStats> {
    let transactional = mode != Mode::Plain;
    let consumer: StreamConsumer = kafka
        .consumer_config(group)
        .create()
        .context("creating the raw loop's consumer")?;
    consumer
        .subscribe(&[input])
        .with_context(|| format!("subscribing to {input}"))?;
    let producer: FutureProducer = if transactional {
        kafka
            .transactional_producer_config(&format!("{group}-txn"))
            .create()
    } else {
        kafka.producer_config().create()
    }
    .context("creating the raw loop's producer")?;
    let result = pump(&consumer, &producer, input, output, total, mode).await;
    let _ = tokio::task::spawn_blocking(move || drop(producer)).await;
    trestle_kafka::consumer::close(consumer).await;
    result
}

/// How the loop commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Transactional; waits (asynchronously) for the acks of the transaction's records before
    /// `send_offsets_to_transaction` and `commit_transaction`, so the commit finds nothing in
    /// flight.
    Transactional,
    /// Transactional, committing with the transaction's records still in flight, as the engine
    /// does: rust-rdkafka's `commit_transaction` first calls its `flush`, which, while anything
    /// is in flight, blocks in `poll` for up to 100 ms at a time.
    TransactionalInFlight,
    /// Idempotent producer; offsets committed once the records written since the last commit
    /// are acknowledged (at-least-once).
    Plain,
}

/// Time the loop spent committing (blocked in `send_offsets_to_transaction`,
/// `commit_transaction` and `begin_transaction`, or awaiting acks and committing offsets).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CommitStats {
    pub commits: usize,
    pub secs: f64,
    pub max_secs: f64,
}

async fn pump(
    consumer: &StreamConsumer,
    producer: &FutureProducer,
    input: &str,
    output: &str,
    total: i64,
    mode: Mode,
) -> anyhow::Result<CommitStats> {
    let transactional = mode != Mode::Plain;
    let mut stats = CommitStats::default();
    if transactional {
        producer
            .init_transactions(TXN_TIMEOUT)
            .context("initialising transactions")?;
        producer
            .begin_transaction()
            .context("beginning a transaction")?;
    }
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut pending: Vec<DeliveryFuture> = Vec::new();
    let mut consumed = 0i64;
    let mut uncommitted = 0usize;
    let mut tick = tokio::time::interval(COMMIT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while consumed < total || uncommitted > 0 {
        let commit_now = tokio::select! {
            message = consumer.recv(), if consumed < total => {
                let m = message.with_context(|| format!("consuming {input}"))?;
                // Detached at once, as the engine does.
                let (partition, offset) = (m.partition(), m.offset());
                let key = m.key().map(<[u8]>::to_vec);
                let payload = m.payload().map(<[u8]>::to_vec);
                drop(m);
                let delivery = send(producer, output, key.as_deref(), payload.as_deref()).await?;
                if mode != Mode::TransactionalInFlight {
                    pending.push(delivery);
                }
                next.insert(partition, offset + 1);
                consumed += 1;
                uncommitted += 1;
                uncommitted >= COMMIT_RECORDS || consumed >= total
            }
            _ = tick.tick() => uncommitted > 0,
        };
        if !commit_now {
            continue;
        }
        let commit_started = std::time::Instant::now();
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &next {
            tpl.add_partition_offset(input, *p, Offset::Offset(*o))
                .context("building the offsets")?;
        }
        if mode != Mode::TransactionalInFlight {
            await_acks(&mut pending).await?;
        }
        if transactional {
            let group = consumer
                .group_metadata()
                .context("the raw loop's consumer has no group metadata")?;
            producer
                .send_offsets_to_transaction(&tpl, &group, TXN_TIMEOUT)
                .context("sending offsets to the transaction")?;
            producer
                .commit_transaction(TXN_TIMEOUT)
                .context("committing a transaction")?;
            if consumed < total {
                producer
                    .begin_transaction()
                    .context("beginning a transaction")?;
            }
        } else {
            let mode = if consumed < total {
                CommitMode::Async
            } else {
                CommitMode::Sync
            };
            consumer.commit(&tpl, mode).context("committing offsets")?;
        }
        uncommitted = 0;
        let took = commit_started.elapsed().as_secs_f64();
        stats.commits += 1;
        stats.secs += took;
        stats.max_secs = stats.max_secs.max(took);
    }
    Ok(stats)
}

/// Waits (asynchronously) until every record sent since the last commit is acknowledged.
async fn await_acks(pending: &mut Vec<DeliveryFuture>) -> anyhow::Result<()> {
    try_join_all(std::mem::take(pending))
        .await
        .context("a delivery was cancelled")?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|(e, _)| e)
        .context("a raw record was not delivered")?;
    Ok(())
}

/// Enqueues one record, waiting while librdkafka's queue is full.
async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
) -> anyhow::Result<DeliveryFuture> {
    loop {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(p) = payload {
            record = record.payload(p);
        }
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err((e, _)) => return Err(e).with_context(|| format!("producing to {topic}")),
        }
    }
}
