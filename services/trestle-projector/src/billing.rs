//! The billing projection: every price-book version and each company's tier, the two inputs a
//! statement needs besides usage; `billing_statements` (migrations/shard/0003) prices a month
//! from them and the usage projection's monthly `company_ai_usage` row.
//!
//! It never counts usage itself: usage is folded exactly once, by the usage projection, and a
//! statement reads that fold. So running this projection twice, rebuilding it, or running it
//! beside the usage projection can never bill a request twice.

use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::{Event, PriceBookPublished, Tier};

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};

/// `price-books` → `price_books` + `price_book_tiers`; `tenants` (CompanyRegistered) →
/// `company_tiers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BillingProjection;

impl Projection for BillingProjection {
    fn name(&self) -> &'static str {
        "billing"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["price-books", "tenants"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        let event = decode_keyed(record)?;
        match &event {
            Event::PriceBookPublished(book) => match book.invalid() {
                Some(reason) => Err(reason),
                None => Ok(Some(event)),
            },
            // A symbol a newer schema added: this build cannot price it, and a statement must
            // never be priced from a guess. Dead-lettered, so it can be replayed once it can.
            Event::CompanyRegistered(c) if c.tier == Tier::Unknown => {
                Err("company registered with an unknown tier".into())
            }
            Event::CompanyRegistered(_) => Ok(Some(event)),
            // The rest of the two topics (decode_keyed checked the topic): provisioning, moves
            // and readiness do not change what a company is billed.
            _ => Ok(None),
        }
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let mut duplicates = 0;
            let mut registrations = Registrations::default();
            for s in events {
                match s.event {
                    Event::PriceBookPublished(book) => {
                        let fresh =
                            insert_price_book(conn, &book, &s.topic, s.partition, s.offset).await?;
                        duplicates += usize::from(!fresh);
                    }
                    Event::CompanyRegistered(c) => {
                        registrations.topic = s.topic;
                        registrations.companies.push(c.meta.company_id);
                        registrations.tiers.push(c.tier.as_str().to_owned());
                        registrations.registered.push(c.meta.occurred_at);
                        registrations.event_ids.push(c.meta.event_id);
                        registrations.partitions.push(s.partition);
                        registrations.offsets.push(s.offset);
                    }
                    _ => {}
                }
            }
            duplicates += registrations.apply(conn).await?;
            Ok(Applied { duplicates })
        })
    }
}

/// Inserts a price-book version and its tiers; `false` if that version already exists (a
/// re-published event, or a second book with the same version: the first one stands, since
/// statements may already cite it).
async fn insert_price_book(
    conn: &mut PgConnection,
    book: &PriceBookPublished,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<bool, sqlx::Error> {
    let inserted: Option<i32> = sqlx::query_scalar(
        "INSERT INTO price_books (version, effective_from, overage_markup_bp,
             notebooklm_queries_unit_micro_usd, gemini_flash_queries_unit_micro_usd,
             gemini_pro_queries_unit_micro_usd, document_pages_unit_micro_usd,
             vision_images_unit_micro_usd, speech_minutes_unit_micro_usd,
             tts_characters_unit_micro_usd, embedding_tokens_unit_micro_usd, note,
             event_id, published_at, source_topic, source_partition, source_offset)
         VALUES ($1, ($2 AT TIME ZONE 'UTC')::date, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                 $13, $14, $15, $16, $17)
         ON CONFLICT (version) DO NOTHING
         RETURNING version",
    )
    .bind(book.version)
    .bind(book.effective_from)
    .bind(book.overage_markup_bp)
    .bind(book.notebooklm_queries_unit_micro_usd)
    .bind(book.gemini_flash_queries_unit_micro_usd)
    .bind(book.gemini_pro_queries_unit_micro_usd)
    .bind(book.document_pages_unit_micro_usd)
    .bind(book.vision_images_unit_micro_usd)
    .bind(book.speech_minutes_unit_micro_usd)
    .bind(book.tts_characters_unit_micro_usd)
    .bind(book.embedding_tokens_unit_micro_usd)
    .bind(&book.note)
    .bind(book.meta.event_id)
    .bind(book.meta.occurred_at)
    .bind(topic)
    .bind(partition)
    .bind(offset)
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        let first: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT event_id FROM price_books WHERE version = $1")
                .bind(book.version)
                .fetch_optional(&mut *conn)
                .await?;
        if first != Some(book.meta.event_id) {
            tracing::warn!(
                message = "A second price book with an existing version was published; the first one stands.",
                version = book.version,
                event_id = %book.meta.event_id,
                topic,
                partition,
                offset,
            );
        }
        return Ok(false);
    }
    let tiers: Vec<Tier> = Tier::ALL
        .iter()
        .copied()
        .filter(|t| *t != Tier::Unknown)
        .collect();
    let names: Vec<&str> = tiers.iter().map(|t| t.as_str()).collect();
    let prices: Vec<i64> = tiers.iter().filter_map(|t| book.tier_price(*t)).collect();
    let included: Vec<i64> = tiers
        .iter()
        .filter_map(|t| book.included_ai_cost(*t))
        .collect();
    sqlx::query(
        "INSERT INTO price_book_tiers (version, tier, monthly_price_micro_usd,
             included_ai_cost_micro_usd)
         SELECT $1, t, p, i FROM unnest($2::text[], $3::int8[], $4::int8[]) AS x(t, p, i)",
    )
    .bind(book.version)
    .bind(&names)
    .bind(&prices)
    .bind(&included)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A batch's registrations, in log order, for `apply_company_tiers`.
#[derive(Default)]
struct Registrations {
    topic: String,
    companies: Vec<uuid::Uuid>,
    tiers: Vec<String>,
    registered: Vec<chrono::DateTime<chrono::Utc>>,
    event_ids: Vec<uuid::Uuid>,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
}

impl Registrations {
    /// Applies them in one round trip; returns how many were duplicates.
    async fn apply(self, conn: &mut PgConnection) -> Result<usize, sqlx::Error> {
        if self.companies.is_empty() {
            return Ok(0);
        }
        let changed: i64 =
            sqlx::query_scalar("SELECT apply_company_tiers($1, $2, $3, $4, $5, $6, $7)")
                .bind(&self.topic)
                .bind(&self.companies)
                .bind(&self.tiers)
                .bind(&self.registered)
                .bind(&self.event_ids)
                .bind(&self.partitions)
                .bind(&self.offsets)
                .fetch_one(&mut *conn)
                .await?;
        Ok(self.companies.len() - changed as usize)
    }
}
