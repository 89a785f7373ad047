//! A company's record in its shard (`companies`, shard database; written by the companies
//! projection), read as that tenant so row-level security applies.

use chrono::{DateTime, Utc};
use sqlx::types::JsonValue;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{reading, Error};

/// The company record: who it is, where it lives, and its AI configuration.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Company {
    pub company_id: Uuid,
    pub name: String,
    pub tier: String,
    pub region: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// `shared` or `dedicated`.
    pub isolation: String,
    pub cloud_project_id: String,
    pub database_shard: i32,
    pub kb_notebook_id: String,
    /// Initialised from the tier table's defaults (`requests_per_minute`, `max_in_flight`,
    /// `scheduler_weight`, `monthly_price_micro_usd`, `included_queries_per_month`,
    /// `included_cost_micro_usd_per_month`; a null limit is unlimited).
    pub ai_config: JsonValue,
    pub registered_at: DateTime<Utc>,
    pub provisioned_at: DateTime<Utc>,
}

/// The company's record in the shard database `pool`, if it lives there.
pub async fn get(pool: &PgPool, company: Uuid) -> Result<Option<Company>, Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let row: Option<Company> = sqlx::query_as(
        "SELECT company_id, name, tier, region, country, isolation, cloud_project_id,
                database_shard, kb_notebook_id, ai_config, registered_at, provisioned_at
           FROM companies WHERE company_id = $1",
    )
    .bind(company)
    .fetch_optional(&mut *tx)
    .await
    .map_err(reading("companies"))?;
    tx.commit().await.map_err(reading("companies"))?;
    Ok(row)
}
