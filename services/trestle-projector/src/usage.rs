//! The usage projection: usage records, deduplicated by idempotency key, folded into daily
//! and monthly rows of `company_ai_usage`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::PgConnection;
use trestle_events::{Meter, UsageRecorded};
use uuid::Uuid;

/// Where a usage record came from in the log.
#[derive(Debug, Clone)]
pub(crate) struct Sourced {
    pub usage: UsageRecorded,
    pub partition: i32,
    pub offset: i64,
}

/// The change to one `company_ai_usage` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageDelta {
    /// Thousandths of a unit, indexed like [`METERS`].
    pub quantity_milli: [i64; 8],
    pub cost_micro_usd: i64,
}

/// The meters, in `company_ai_usage` column order.
const METERS: [Meter; 8] = [
    Meter::NotebooklmQueries,
    Meter::GeminiFlashQueries,
    Meter::GeminiProQueries,
    Meter::DocumentPages,
    Meter::VisionImages,
    Meter::SpeechMinutes,
    Meter::TtsCharacters,
    Meter::EmbeddingTokens,
];

impl UsageDelta {
    fn add(&mut self, meter: Meter, quantity_milli: i64, cost: i64) {
        if let Some(i) = METERS.iter().position(|m| *m == meter) {
            self.quantity_milli[i] += quantity_milli;
        }
        self.cost_micro_usd += cost;
    }
}

/// The daily and monthly periods an instant falls in (UTC).
pub fn period_starts(at: DateTime<Utc>) -> [(&'static str, NaiveDate); 2] {
    let day = at.date_naive();
    let month = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("first of a month");
    [("daily", day), ("monthly", month)]
}

/// Applies one company's new usage records inside the caller's transaction, which must already
/// be scoped to that company. Returns how many records were duplicates (already counted).
pub(crate) async fn apply_company(
    conn: &mut PgConnection,
    topic: &str,
    company_id: Uuid,
    records: &[Sourced],
) -> Result<usize, sqlx::Error> {
    let mut keys = Vec::with_capacity(records.len());
    let mut request_ids = Vec::with_capacity(records.len());
    let mut meters = Vec::with_capacity(records.len());
    let mut quantities = Vec::with_capacity(records.len());
    let mut costs = Vec::with_capacity(records.len());
    let mut versions = Vec::with_capacity(records.len());
    let mut occurred = Vec::with_capacity(records.len());
    let mut event_ids = Vec::with_capacity(records.len());
    let mut partitions = Vec::with_capacity(records.len());
    let mut offsets = Vec::with_capacity(records.len());
    for r in records {
        let u = &r.usage;
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
    // Only rows that were not there before come back: the unique idempotency key is what
    // makes a re-published usage event count once.
    let inserted: Vec<(String, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO usage_records (idempotency_key, company_id, request_id, meter, quantity_milli,
             cost_micro_usd, price_book_version, occurred_at, event_id, source_topic,
             source_partition, source_offset)
         SELECT k, $2, r, m, q, c, v, o, e, $3, p, f
           FROM unnest($1::text[], $4::uuid[], $5::text[], $6::int8[], $7::int8[], $8::int4[],
                       $9::timestamptz[], $10::uuid[], $11::int4[], $12::int8[])
                AS t(k, r, m, q, c, v, o, e, p, f)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING meter, quantity_milli, cost_micro_usd, occurred_at",
    )
    .bind(&keys)
    .bind(company_id)
    .bind(topic)
    .bind(&request_ids)
    .bind(&meters)
    .bind(&quantities)
    .bind(&costs)
    .bind(&versions)
    .bind(&occurred)
    .bind(&event_ids)
    .bind(&partitions)
    .bind(&offsets)
    .fetch_all(&mut *conn)
    .await?;
    let duplicates = records.len() - inserted.len();

    let mut rows: BTreeMap<(&'static str, NaiveDate), UsageDelta> = BTreeMap::new();
    for (meter, quantity, cost, at) in &inserted {
        let meter: Meter = meter.parse().unwrap_or(Meter::Unknown);
        for period in period_starts(*at) {
            rows.entry(period).or_default().add(meter, *quantity, *cost);
        }
    }
    for ((period_type, period_start), d) in rows {
        let q = d.quantity_milli;
        sqlx::query(
            "INSERT INTO company_ai_usage AS u (company_id, period_start, period_type,
                 notebooklm_queries, gemini_flash_queries, gemini_pro_queries, document_pages,
                 vision_images, speech_minutes, tts_characters, embedding_tokens,
                 total_cost_micro_usd)
             VALUES ($1, $2, $3, $4 / 1000, $5 / 1000, $6 / 1000, $7 / 1000, $8 / 1000,
                     $9::numeric / 1000, $10 / 1000, $11 / 1000, $12)
             ON CONFLICT (company_id, period_start, period_type) DO UPDATE SET
                 notebooklm_queries = u.notebooklm_queries + EXCLUDED.notebooklm_queries,
                 gemini_flash_queries = u.gemini_flash_queries + EXCLUDED.gemini_flash_queries,
                 gemini_pro_queries = u.gemini_pro_queries + EXCLUDED.gemini_pro_queries,
                 document_pages = u.document_pages + EXCLUDED.document_pages,
                 vision_images = u.vision_images + EXCLUDED.vision_images,
                 speech_minutes = u.speech_minutes + EXCLUDED.speech_minutes,
                 tts_characters = u.tts_characters + EXCLUDED.tts_characters,
                 embedding_tokens = u.embedding_tokens + EXCLUDED.embedding_tokens,
                 total_cost_micro_usd = u.total_cost_micro_usd + EXCLUDED.total_cost_micro_usd,
                 updated_at = now()",
        )
        .bind(company_id)
        .bind(period_start)
        .bind(period_type)
        .bind(q[0])
        .bind(q[1])
        .bind(q[2])
        .bind(q[3])
        .bind(q[4])
        .bind(q[5])
        .bind(q[6])
        .bind(q[7])
        .bind(d.cost_micro_usd)
        .execute(&mut *conn)
        .await?;
    }
    Ok(duplicates)
}
