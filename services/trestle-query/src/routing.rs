//! A company's tenant routing (`tenant_routing`, control database; written by the routing
//! projection): region, database shard, cloud project, isolation level, tier.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{reading, Error};

/// Where a company lives and what it is entitled to. A field is `None` until the event that
/// sets it has been projected (name and tier: registration; shard, project, isolation and
/// notebook: provisioning).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Route {
    pub company_id: Uuid,
    /// Provisioned region, or the registered one before provisioning.
    pub region: Option<String>,
    pub database_shard: Option<i32>,
    pub cloud_project_id: Option<String>,
    /// `shared` or `dedicated`.
    pub isolation_level: Option<String>,
    pub tier: Option<String>,
    pub name: Option<String>,
    pub kb_notebook_id: Option<String>,
    pub registered_at: Option<DateTime<Utc>>,
    pub provisioned_at: Option<DateTime<Utc>>,
}

/// The company's route, if any event of it was projected.
pub async fn lookup(pool: &PgPool, company: Uuid) -> Result<Option<Route>, Error> {
    sqlx::query_as(
        "SELECT company_id, region, database_shard, cloud_project_id, isolation_level, tier,
                name, kb_notebook_id, registered_at, provisioned_at
           FROM tenant_routing WHERE company_id = $1",
    )
    .bind(company)
    .fetch_optional(pool)
    .await
    .map_err(reading("tenant_routing"))
}

/// Every provisioned company's route (a database shard set), by shard then company: what
/// `trestle-admin shards rebalance` plans from.
pub async fn provisioned(pool: &PgPool) -> Result<Vec<Route>, Error> {
    sqlx::query_as(
        "SELECT company_id, region, database_shard, cloud_project_id, isolation_level, tier,
                name, kb_notebook_id, registered_at, provisioned_at
           FROM tenant_routing WHERE database_shard IS NOT NULL
          ORDER BY database_shard, company_id",
    )
    .fetch_all(pool)
    .await
    .map_err(reading("tenant_routing"))
}
