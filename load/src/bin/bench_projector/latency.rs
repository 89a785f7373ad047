//! End-to-end latency: usage events produced at a paced rate while the projector runs, each
//! timed from just before the send to the moment its row is visible in Postgres.
//!
//! Visibility is observed through `projector_offsets`: the projector advances a partition's
//! `next_offset` in the same transaction as the rows of the records below it, so a record at
//! `(partition, offset)` is visible exactly when a reader sees `next_offset > offset`. A poller
//! reads the offset rows every few milliseconds and stamps each advance with the time its
//! query returned: an upper bound, late by at most one poll interval plus one round trip.
//! Send and visibility are both read from this process's monotonic clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinSet;
use trestle_events::Event;
use trestle_kafka::EventProducer;

use crate::progress::{self, Ends, Source};

/// What the paced run measured.
pub(crate) struct Latency {
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    pub poll_every: Duration,
    /// From the last send to the projector's offsets reaching the end: how far behind it was.
    pub drain: Duration,
    /// Events over the time from the first send to the last one visible: the projector's own
    /// rate on live traffic when it fell behind (then `drain` is long), the offered rate if not.
    pub applied_rate: f64,
}

impl Latency {
    /// Whether the projector kept pace: caught up within a second of the last send (a batch
    /// waits at most `batch_max_wait_ms` and takes well under a second to apply).
    pub(crate) fn kept_up(&self) -> bool {
        self.drain <= Duration::from_secs(1)
    }
}

/// Advances of one partition's stored offset: (new next_offset, when it was first seen).
type Advances = BTreeMap<i32, Vec<(i64, Instant)>>;

/// Produces `events` at `rate` per second and measures each one's produce-to-visible time.
/// The projector must already be running on `topic` and caught up.
pub(crate) async fn measure(
    producer: &EventProducer,
    pool: &sqlx::PgPool,
    topic: &str,
    events: Vec<Event>,
    rate: f64,
    poll_every: Duration,
    timeout: Duration,
) -> anyhow::Result<Latency> {
    let source = Source::Postgres {
        pool: pool.clone(),
        topic: topic.to_string(),
    };
    let start_offsets: BTreeMap<i32, i64> = source.read(&Ends::new()).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let observer = tokio::spawn(observe(source, start_offsets, poll_every, stopped));

    // Paced: event i leaves at t0 + i / rate (several per timer tick when the rate is high).
    let mut sends = JoinSet::new();
    let t0 = Instant::now();
    let total = events.len();
    for (i, mut event) in events.into_iter().enumerate() {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        // Taken before the task is spawned, so scheduling delays count against the system.
        let sent = Instant::now();
        event.meta_mut().occurred_at = trestle_events::now_micros();
        let producer = producer.clone();
        sends.spawn(async move { producer.publish(&event).await.map(|d| (d, sent)) });
    }
    let last_send = Instant::now();
    let produce_secs = (last_send - t0).as_secs_f64();
    let mut delivered = Vec::with_capacity(total);
    while let Some(r) = sends.join_next().await {
        delivered.push(
            r.context("joining a send")?
                .context("publishing a paced event")?,
        );
    }

    // Wait for the projector to reach the end, then one more poll so the observer saw it.
    let ends: Ends = trestle_testkit::end_offsets(producer.options(), topic)?
        .into_iter()
        .collect();
    let waiter = Source::Postgres {
        pool: pool.clone(),
        topic: topic.to_string(),
    };
    let caught_up = progress::wait_for_end(&waiter, &ends, Duration::from_millis(5), timeout)
        .await?
        .done;
    tokio::time::sleep(poll_every * 3).await;
    let _ = stop.send(());
    let advances = observer.await.context("joining the observer")??;

    let mut latencies = Vec::with_capacity(total);
    let mut last_seen = t0;
    for (d, sent) in &delivered {
        let seen = advances
            .get(&d.partition)
            .and_then(|a| a.get(a.partition_point(|(next, _)| *next <= d.offset)))
            .map(|(_, at)| *at)
            .with_context(|| {
                format!(
                    "record {}@{} was never seen as applied",
                    d.partition, d.offset
                )
            })?;
        last_seen = last_seen.max(seen);
        latencies.push(seen.saturating_duration_since(*sent));
    }
    latencies.sort_unstable();
    Ok(Latency {
        target_rate: rate,
        achieved_rate: total as f64 / produce_secs,
        samples: latencies.len(),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        p999: percentile(&latencies, 99.9),
        max: latencies.last().copied().unwrap_or_default(),
        poll_every,
        drain: caught_up.saturating_duration_since(last_send),
        applied_rate: total as f64 / (last_seen - t0).as_secs_f64(),
    })
}

/// Polls the stored offsets until told to stop; returns every advance seen.
async fn observe(
    source: Source,
    mut last: BTreeMap<i32, i64>,
    every: Duration,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<Advances> {
    let mut advances = Advances::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stopped => return Ok(advances),
            _ = tick.tick() => {}
        }
        let now_offsets = source.read(&Ends::new()).await?;
        let seen = Instant::now();
        for (p, next) in now_offsets {
            let prev = last.entry(p).or_insert(0);
            if next > *prev {
                advances.entry(p).or_default().push((next, seen));
                *prev = next;
            }
        }
    }
}

/// Nearest-rank percentile of sorted samples.
pub(crate) fn percentile(sorted: &[Duration], pct: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&ms, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
