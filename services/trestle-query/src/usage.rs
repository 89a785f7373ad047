//! A company's usage totals per period (`company_ai_usage`, shard database; written by the
//! usage projection), read as that tenant so row-level security applies.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{reading, Error};

/// The daily and monthly periods an instant falls in (UTC), as `apply_usage_batch` files them.
pub fn period_starts(at: DateTime<Utc>) -> [(&'static str, NaiveDate); 2] {
    let day = at.date_naive();
    let month = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("first of a month");
    [("daily", day), ("monthly", month)]
}

/// One company's query counts and cost in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageTotals {
    pub notebooklm_queries: i64,
    pub gemini_flash_queries: i64,
    pub gemini_pro_queries: i64,
    pub total_cost_micro_usd: i64,
}

impl UsageTotals {
    /// Queries of every model.
    pub fn queries(&self) -> i64 {
        self.notebooklm_queries + self.gemini_flash_queries + self.gemini_pro_queries
    }
}

/// The company's totals in the month `at` falls in (UTC); zero when it has none.
pub async fn monthly(
    pool: &PgPool,
    company: Uuid,
    at: DateTime<Utc>,
) -> Result<UsageTotals, Error> {
    let [_, (_, month)] = period_starts(at);
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let row: Option<UsageTotals> = sqlx::query_as(
        "SELECT notebooklm_queries, gemini_flash_queries, gemini_pro_queries, total_cost_micro_usd
           FROM company_ai_usage
          WHERE period_type = 'monthly' AND period_start = $1",
    )
    .bind(month)
    .fetch_optional(&mut *tx)
    .await
    .map_err(reading("company_ai_usage"))?;
    tx.commit().await.map_err(reading("company_ai_usage"))?;
    Ok(row.unwrap_or_default())
}
