//! What the benchmark reads while the service runs: its own resident memory, how many records
//! a topic holds, how far the timers projection has got, and the `timers` table's size.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::PgPool;
use trestle_kafka::KafkaOptions;

/// This process's resident memory (`VmRSS` of `/proc/self/status`), in KiB.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory seen over a span: at its start, its largest, at its end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rss {
    pub start_kib: u64,
    pub max_kib: u64,
    pub end_kib: u64,
}

impl Rss {
    pub(crate) fn start() -> Rss {
        let now = rss_kib();
        Rss {
            start_kib: now,
            max_kib: now,
            end_kib: now,
        }
    }

    /// Reads it again; returns the current value in KiB.
    pub(crate) fn sample(&mut self) -> u64 {
        let now = rss_kib();
        self.max_kib = self.max_kib.max(now);
        self.end_kib = now;
        now
    }
}

/// Counts the records of one physical topic: the sum of its partitions' high watermarks.
pub(crate) struct TopicCount {
    consumer: Arc<BaseConsumer>,
    topic: String,
    partitions: Vec<i32>,
}

impl TopicCount {
    pub(crate) fn new(kafka: &KafkaOptions, topic: &str) -> anyhow::Result<TopicCount> {
        let partitions = trestle_testkit::end_offsets(kafka, topic)
            .with_context(|| format!("reading the partitions of {topic}"))?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let consumer: BaseConsumer = kafka
            .client_config()
            .create()
            .context("creating the watermark reader")?;
        Ok(TopicCount {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
            partitions,
        })
    }

    /// Records in the topic now (its producers are not transactional: offsets are dense).
    pub(crate) async fn records(&self) -> anyhow::Result<i64> {
        let (consumer, topic, partitions) = (
            self.consumer.clone(),
            self.topic.clone(),
            self.partitions.clone(),
        );
        // Blocking broker round trips: off the runtime the service runs on.
        tokio::task::spawn_blocking(move || {
            partitions.iter().try_fold(0i64, |sum, p| {
                let (_, high) = consumer.fetch_watermarks(&topic, *p, Duration::from_secs(10))?;
                Ok::<_, rdkafka::error::KafkaError>(sum + high)
            })
        })
        .await
        .context("joining the watermark fetch")?
        .with_context(|| format!("reading the watermarks of {}", self.topic))
    }
}

/// Records of `topic` the timers projection has applied: the sum of its `next_offset`s (kept in
/// the same transaction as the rows, so exactly what the `timers` table reflects).
pub(crate) async fn projected(pool: &PgPool, topic: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(next_offset), 0)::int8 FROM projector_offsets WHERE topic = $1",
    )
    .bind(topic)
    .fetch_one(pool)
    .await
    .context("reading projector_offsets")
}

/// Timers by state.
pub(crate) async fn states(pool: &PgPool) -> anyhow::Result<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'pending')::int8, \
                count(*) FILTER (WHERE state = 'fired')::int8, \
                count(*) FILTER (WHERE state = 'cancelled')::int8 FROM timers",
    )
    .fetch_one(pool)
    .await
    .context("counting timers by state")
}

/// Pending timers (read through the partial index of pending due times).
pub(crate) async fn pending(pool: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT count(*)::int8 FROM timers WHERE state = 'pending'")
        .fetch_one(pool)
        .await
        .context("counting pending timers")
}

/// The `timers` table's size on disk.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TableSize {
    /// `pg_total_relation_size`: heap, indexes, TOAST, free space and visibility maps.
    pub total: i64,
    /// The heap alone (main fork).
    pub heap: i64,
    /// The primary key `(company_id, timer_id)`.
    pub pkey: i64,
    /// The partial index of pending due times.
    pub pending_index: i64,
    /// Mean stored event (`event` column), bytes.
    pub mean_event: f64,
    /// Mean row as stored (`pg_column_size` of the whole row), bytes.
    pub mean_row: f64,
    /// Dead row versions and autovacuum runs so far (`pg_stat_user_tables`).
    pub dead_rows: i64,
    pub autovacuums: i64,
}

pub(crate) async fn table_size(pool: &PgPool) -> anyhow::Result<TableSize> {
    let (total, heap, pkey, pending_index): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT pg_total_relation_size('timers')::int8, pg_relation_size('timers')::int8, \
                pg_relation_size('timers_pkey')::int8, \
                pg_relation_size('idx_timers_pending_due')::int8",
    )
    .fetch_one(pool)
    .await
    .context("reading the timers table's size")?;
    let (mean_event, mean_row): (f64, f64) = sqlx::query_as(
        "SELECT coalesce(avg(octet_length(event)), 0)::float8, \
                coalesce(avg(pg_column_size(t.*)), 0)::float8 FROM timers t",
    )
    .fetch_one(pool)
    .await
    .context("reading the timers' mean sizes")?;
    let (dead_rows, autovacuums): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(n_dead_tup), 0)::int8, coalesce(sum(autovacuum_count), 0)::int8 \
           FROM pg_stat_user_tables WHERE relname = 'timers'",
    )
    .fetch_one(pool)
    .await
    .context("reading the timers table's statistics")?;
    Ok(TableSize {
        total,
        heap,
        pkey,
        pending_index,
        mean_event,
        mean_row,
        dead_rows,
        autovacuums,
    })
}
