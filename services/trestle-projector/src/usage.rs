//! The usage projection: usage records, deduplicated by idempotency key, folded into daily
//! and monthly rows of `company_ai_usage` by `apply_usage_batch` (migrations/shard/0002).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::PgConnection;
use trestle_events::UsageRecorded;

use futures::future::BoxFuture;
use trestle_events::Event;

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};

/// `usage` → `usage_records` + `company_ai_usage` (daily and monthly, per meter).
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageProjection;

impl Projection for UsageProjection {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["usage"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        let event = decode_keyed(record)?;
        match &event {
            Event::UsageRecorded(u) if u.meter == trestle_events::Meter::Unknown => {
                Err("usage has an unknown meter".into())
            }
            Event::UsageRecorded(_) => Ok(Some(event)),
            other => Err(format!("{} does not belong on the usage topic", other.name())),
        }
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let records = events
                .into_iter()
                .filter_map(|s| match s.event {
                    Event::UsageRecorded(usage) => Some(Usage {
                        usage,
                        topic: s.topic,
                        partition: s.partition,
                        offset: s.offset,
                    }),
                    _ => None,
                })
                .collect();
            let duplicates = apply_batch(conn, records).await?;
            Ok(Applied { duplicates })
        })
    }
}

/// A usage record and where it came from in the log.
struct Usage {
    usage: UsageRecorded,
    topic: String,
    partition: i32,
    offset: i64,
}

/// The daily and monthly periods an instant falls in (UTC), as `apply_usage_batch` files them.
pub fn period_starts(at: DateTime<Utc>) -> [(&'static str, NaiveDate); 2] {
    let day = at.date_naive();
    let month = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("first of a month");
    [("daily", day), ("monthly", month)]
}

/// Applies a batch's new usage records, of any number of companies, inside the caller's
/// transaction in one round trip (`apply_usage_batch`, a SECURITY INVOKER function: row-level
/// security applies to each company's statements, under that company's tenant setting).
/// Returns how many records were duplicates (already counted).
async fn apply_batch(conn: &mut PgConnection, mut records: Vec<Usage>) -> Result<usize, sqlx::Error> {
    if records.is_empty() {
        return Ok(0);
    }
    let topic = records[0].topic.clone();
    records.sort_by_key(|r| r.usage.meta.company_id);
    let n = records.len();
    let (mut companies, mut firsts, mut counts) = (Vec::new(), Vec::new(), Vec::<i32>::new());
    let mut keys = Vec::with_capacity(n);
    let mut request_ids = Vec::with_capacity(n);
    let mut meters = Vec::with_capacity(n);
    let mut quantities = Vec::with_capacity(n);
    let mut costs = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut occurred = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut partitions = Vec::with_capacity(n);
    let mut offsets = Vec::with_capacity(n);
    for (i, r) in records.iter().enumerate() {
        let u = &r.usage;
        if companies.last() != Some(&u.meta.company_id) {
            companies.push(u.meta.company_id);
            firsts.push(i as i32 + 1);
            counts.push(0);
        }
        *counts.last_mut().expect("pushed above") += 1;
        keys.push(u.idempotency_key.clone());
        request_ids.push(u.request_id);
        meters.push(u.meter.as_str().to_string());
        quantities.push(u.quantity_milli);
        costs.push(u.cost_micro_usd);
        versions.push(u.price_book_version);
        occurred.push(u.meta.occurred_at);
        event_ids.push(u.meta.event_id);
        partitions.push(r.partition);
        offsets.push(r.offset);
    }
    let fresh: i64 = sqlx::query_scalar(
        "SELECT apply_usage_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&topic)
    .bind(&companies)
    .bind(&firsts)
    .bind(&counts)
    .bind(&keys)
    .bind(&request_ids)
    .bind(&meters)
    .bind(&quantities)
    .bind(&costs)
    .bind(&versions)
    .bind(&occurred)
    .bind(&event_ids)
    .bind(&partitions)
    .bind(&offsets)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n - fresh as usize)
}
