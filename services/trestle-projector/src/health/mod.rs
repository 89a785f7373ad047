//! The shard-health projection: AI request outcomes folded per database shard and UTC minute
//! (requests, errors, a latency sketch) in the control database. See docs/shard-health.md.
//!
//! What each outcome counts as: every outcome is one request. `AiRequestCompleted` is a
//! success and its `latency_ms` (the provider call) goes into the sketch. `AiRequestFailed` is
//! an error. `AiRequestThrottled` is a refusal by policy (rate or budget limit), neither a
//! success nor an error: it is left out of the error rate's denominator so a throttled noisy
//! tenant cannot dilute its shard's errors. `AiRequestServedFromCache` is a success without
//! provider latency, except when `limited_notice` is set: then the whole provider chain had
//! failed and the cache only masked it, so it also counts as an error (`limited`).
//!
//! The report that reads these rows back is `trestle_query::health`.
//!
//! Companies are attributed to the shard of their latest `TenantProvisioned`, as this
//! projection's own map (`shard_health_companies`) knows it when the outcome is applied;
//! registered but not provisioned companies, and companies it has never heard of, count under
//! [`UNASSIGNED_SHARD`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::Event;
use uuid::Uuid;

use crate::projection::{Applied, Projection, Sourced};
pub use trestle_query::health::{minute_of, Minute, MinuteRow, Sketch, UNASSIGNED_SHARD};

/// Minutes older than this before a batch's newest event (by occurred_at: event time, not the
/// projector's clock) are neither written nor kept: the table stays at most about
/// shards × 1,440 rows, and the rows are a function of the log alone.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);

/// Serializes shard-health batches of concurrent projector instances (a batch reads, merges
/// and rewrites minute rows that another partition's batch may also touch).
const LOCK_KEY: i64 = 0x7368_6172_645f_6865; // "shard_he"

/// `tenants` + `ai-outcomes` → `shard_health_companies` + `shard_health_minutes`.
#[derive(Debug, Default)]
pub struct ShardHealthProjection {
    /// The UTC minute (Unix seconds, event time) of the last pruning, so pruning runs once per
    /// minute of event time.
    last_pruned: AtomicI64,
}

impl Projection for ShardHealthProjection {
    fn name(&self) -> &'static str {
        "shard_health"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["ai-outcomes", "tenants"]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            // Defence in depth: a seek on assignment can re-fetch a record the batch already
            // holds. The loop passes over such a record (worker.rs, since it filters on what
            // the batch took); these counts have no idempotency key to catch it if that ever
            // regressed, so a repeated log position is dropped here too.
            let before = events.len();
            let mut seen = BTreeSet::new();
            let events: Vec<Sourced> = events
                .into_iter()
                .filter(|s| seen.insert((s.topic.clone(), s.partition, s.offset)))
                .collect();
            let duplicates = before - events.len();
            if events.is_empty() {
                return Ok(Applied { duplicates });
            }
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LOCK_KEY)
                .execute(&mut *conn)
                .await?;
            // Tenant events first, so a batch's outcomes see the batch's provisioning.
            apply_tenants(conn, &events).await?;
            let now = newest(&events);
            let horizon = minute_of(now) - RETENTION;
            apply_outcomes(conn, &events, horizon).await?;
            let this_minute = minute_of(now).timestamp();
            if self.last_pruned.fetch_max(this_minute, Ordering::Relaxed) < this_minute {
                sqlx::query("DELETE FROM shard_health_minutes WHERE minute < $1")
                    .bind(horizon)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(Applied { duplicates })
        })
    }
}

/// The batch's event time: its newest `occurred_at` (a batch is never empty here).
fn newest(events: &[Sourced]) -> DateTime<Utc> {
    events
        .iter()
        .map(|s| s.event.meta().occurred_at)
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// `CompanyRegistered` adds a company under [`UNASSIGNED_SHARD`] unless it is known;
/// `TenantProvisioned` sets its shard (the latest in log order wins: one company's tenant
/// events share a partition).
async fn apply_tenants(conn: &mut PgConnection, events: &[Sourced]) -> Result<(), sqlx::Error> {
    let mut registered: BTreeMap<Uuid, &'static str> = BTreeMap::new();
    let mut provisioned: BTreeMap<Uuid, (i32, &'static str)> = BTreeMap::new();
    for s in events {
        match &s.event {
            Event::CompanyRegistered(r) => {
                registered.insert(r.meta.company_id, r.region.as_str());
            }
            Event::TenantProvisioned(p) => {
                provisioned.insert(p.meta.company_id, (p.database_shard, p.region.as_str()));
            }
            _ => {}
        }
    }
    if !registered.is_empty() {
        let (ids, regions): (Vec<Uuid>, Vec<&str>) = registered.into_iter().unzip();
        sqlx::query(
            "INSERT INTO shard_health_companies (company_id, database_shard, region)
             SELECT c, $3, r FROM unnest($1::uuid[], $2::text[]) AS n(c, r)
             ON CONFLICT (company_id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&regions)
        .bind(UNASSIGNED_SHARD)
        .execute(&mut *conn)
        .await?;
    }
    if !provisioned.is_empty() {
        let ids: Vec<Uuid> = provisioned.keys().copied().collect();
        let shards: Vec<i32> = provisioned.values().map(|v| v.0).collect();
        let regions: Vec<&str> = provisioned.values().map(|v| v.1).collect();
        sqlx::query(
            "INSERT INTO shard_health_companies (company_id, database_shard, region)
             SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[])
             ON CONFLICT (company_id) DO UPDATE
               SET database_shard = EXCLUDED.database_shard, region = EXCLUDED.region,
                   updated_at = now()",
        )
        .bind(&ids)
        .bind(&shards)
        .bind(&regions)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Folds the batch's outcomes (those not older than `horizon`) into their shard's minute
/// rows: read under the lock, merged, written back.
async fn apply_outcomes(
    conn: &mut PgConnection,
    events: &[Sourced],
    horizon: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let outcomes: Vec<&Event> = events
        .iter()
        .map(|s| &s.event)
        .filter(|e| {
            matches!(
                e,
                Event::AiRequestCompleted(_)
                    | Event::AiRequestFailed(_)
                    | Event::AiRequestThrottled(_)
                    | Event::AiRequestServedFromCache(_)
            ) && minute_of(e.meta().occurred_at) >= horizon
        })
        .collect();
    if outcomes.is_empty() {
        return Ok(());
    }
    let companies: Vec<Uuid> = outcomes
        .iter()
        .map(|e| e.meta().company_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let shards: BTreeMap<Uuid, i32> = sqlx::query_as(
        "SELECT company_id, database_shard FROM shard_health_companies WHERE company_id = ANY($1)",
    )
    .bind(&companies)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();

    let mut fresh: BTreeMap<(i32, DateTime<Utc>), Minute> = BTreeMap::new();
    for e in outcomes {
        let meta = e.meta();
        let shard = shards
            .get(&meta.company_id)
            .copied()
            .unwrap_or(UNASSIGNED_SHARD);
        let m = fresh
            .entry((shard, minute_of(meta.occurred_at)))
            .or_default();
        match e {
            Event::AiRequestCompleted(c) => {
                m.completed += 1;
                m.latency.add(c.latency_ms as f64);
            }
            Event::AiRequestFailed(_) => m.failed += 1,
            Event::AiRequestThrottled(_) => m.throttled += 1,
            Event::AiRequestServedFromCache(c) => {
                m.cached += 1;
                m.limited += i64::from(c.limited_notice);
            }
            _ => unreachable!("filtered above"),
        }
    }

    let key_shards: Vec<i32> = fresh.keys().map(|k| k.0).collect();
    let key_minutes: Vec<DateTime<Utc>> = fresh.keys().map(|k| k.1).collect();
    let stored: Vec<MinuteRow> = sqlx::query_as(
        "SELECT m.database_shard, m.minute, m.completed, m.failed, m.throttled, m.cached,
                m.limited, m.latency_sketch
           FROM shard_health_minutes m
           JOIN unnest($1::int4[], $2::timestamptz[]) AS k(s, t)
             ON m.database_shard = k.s AND m.minute = k.t",
    )
    .bind(&key_shards)
    .bind(&key_minutes)
    .fetch_all(&mut *conn)
    .await?;
    for row in stored {
        let key = (row.database_shard, row.minute);
        let old = row.into_minute().map_err(decode)?;
        if let Some(m) = fresh.get_mut(&key) {
            m.add(&old).map_err(decode)?;
        }
    }

    write_minutes(conn, &key_shards, &key_minutes, &fresh).await
}

/// Writes the merged minutes back (one statement).
async fn write_minutes(
    conn: &mut PgConnection,
    key_shards: &[i32],
    key_minutes: &[DateTime<Utc>],
    fresh: &BTreeMap<(i32, DateTime<Utc>), Minute>,
) -> Result<(), sqlx::Error> {
    let n = fresh.len();
    let (mut requests, mut completed, mut failed) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut throttled, mut cached, mut limited, mut sketches) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in fresh.values() {
        requests.push(m.requests());
        completed.push(m.completed);
        failed.push(m.failed);
        throttled.push(m.throttled);
        cached.push(m.cached);
        limited.push(m.limited);
        sketches.push((m.latency.count() > 0).then(|| m.latency.encode()));
    }
    sqlx::query(
        "INSERT INTO shard_health_minutes
           (database_shard, minute, requests, completed, failed, throttled, cached, limited,
            latency_sketch)
         SELECT * FROM unnest($1::int4[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[],
                              $6::int8[], $7::int8[], $8::int8[], $9::bytea[])
         ON CONFLICT (database_shard, minute) DO UPDATE
           SET requests = EXCLUDED.requests, completed = EXCLUDED.completed,
               failed = EXCLUDED.failed, throttled = EXCLUDED.throttled,
               cached = EXCLUDED.cached, limited = EXCLUDED.limited,
               latency_sketch = EXCLUDED.latency_sketch, updated_at = now()",
    )
    .bind(key_shards)
    .bind(key_minutes)
    .bind(&requests)
    .bind(&completed)
    .bind(&failed)
    .bind(&throttled)
    .bind(&cached)
    .bind(&limited)
    .bind(&sketches)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stored minute the projection cannot read back, as the loop's error.
fn decode(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}
