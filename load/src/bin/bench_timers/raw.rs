//! The firer's baseline: a raw rdkafka producer (the services' producer settings: idempotent,
//! `acks=all`, lz4) publishing the same event bytes under the same keys, in batches of the
//! firer's size, each batch's acks awaited before the next — the firer without Postgres.
//!
//! The payloads are built before the clock starts, in one buffer (handed back to the system
//! when dropped).

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use trestle_kafka::KafkaOptions;

use crate::workload::Workload;

/// What each timer publishes in a raw run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Records {
    /// Its event only (to `notebooks`): the question's baseline.
    Event,
    /// Its event and a `TimerFired` (to `timers`), the two records the firer publishes.
    EventAndFired,
}

/// Payloads of every timer, back to back, with where each ends.
struct Payloads {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Payloads {
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// Publishes every timer's records to `kafka`'s topics (not the service's: nothing reads them)
/// `batch` timers at a time; returns the wall time of the sends, acks included.
pub(crate) async fn baseline(
    kafka: &KafkaOptions,
    workload: &Workload,
    batch: usize,
    records: Records,
) -> anyhow::Result<Duration> {
    let (events, fired, companies) = payloads(workload, records)?;
    let producer: FutureProducer = kafka
        .producer_config()
        .create()
        .context("creating the raw producer")?;
    let event_topic = kafka.topic("notebooks");
    let fired_topic = kafka.topic("timers");
    let key = |i: usize| workload.keys[companies[i] as usize].as_str();
    // Connected, with a producer id, before the clock starts (as the firer's producer is).
    let warm_up = [(event_topic.as_str(), events.get(0))];
    send_batch(&producer, warm_up.iter().map(|(t, p)| (*t, key(0), *p))).await?;

    let n = workload.n;
    let start = Instant::now();
    let mut next_line = start + Duration::from_secs(5);
    for first in (0..n).step_by(batch) {
        let range = first..(first + batch).min(n);
        let batch_records = range.flat_map(|i| {
            let event = Some((event_topic.as_str(), key(i), events.get(i)));
            let fired = fired
                .as_ref()
                .map(|f| (fired_topic.as_str(), key(i), f.get(i)));
            event.into_iter().chain(fired)
        });
        send_batch(&producer, batch_records).await?;
        if Instant::now() >= next_line {
            eprintln!(
                "    raw producer: {} of {n} timers after {:.1} s",
                (first + batch).min(n),
                start.elapsed().as_secs_f64()
            );
            next_line += Duration::from_secs(5);
        }
    }
    let elapsed = start.elapsed();
    let _ = tokio::task::spawn_blocking(move || drop(producer)).await;
    Ok(elapsed)
}

/// Sends every (topic, key, payload) and waits for all their acks.
async fn send_batch<'a>(
    producer: &FutureProducer,
    records: impl Iterator<Item = (&'a str, &'a str, &'a [u8])>,
) -> anyhow::Result<()> {
    let mut deliveries = Vec::new();
    for (topic, key, payload) in records {
        let record = FutureRecord::to(topic).key(key).payload(payload);
        let delivery = producer
            .send_result(record)
            .map_err(|(e, _)| e)
            .with_context(|| format!("enqueueing a record for {topic}"))?;
        deliveries.push(delivery);
    }
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e).context("a raw record was refused"),
            Err(_) => anyhow::bail!("a raw record's delivery was cancelled"),
        }
    }
    Ok(())
}

/// Every timer's event bytes, its `TimerFired` bytes if asked for, and its company index.
fn payloads(
    workload: &Workload,
    records: Records,
) -> anyhow::Result<(Payloads, Option<Payloads>, Vec<u32>)> {
    let empty = || Payloads {
        bytes: Vec::new(),
        ends: Vec::with_capacity(workload.n),
    };
    let mut events = empty();
    let mut fired = (records == Records::EventAndFired).then(empty);
    let mut companies = Vec::with_capacity(workload.n);
    let fired_at = workload.start + workload.past_all();
    for i in 0..workload.n {
        let t = workload.timer(i);
        events
            .bytes
            .extend_from_slice(&trestle_events::encode(&t.event)?);
        events.ends.push(events.bytes.len());
        if let Some(f) = fired.as_mut() {
            f.bytes
                .extend_from_slice(&trestle_events::encode(&t.fired(fired_at))?);
            f.ends.push(f.bytes.len());
        }
        companies.push(t.company as u32);
    }
    Ok((events, fired, companies))
}
