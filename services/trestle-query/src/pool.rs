//! The cloud-project pool (`cloud_projects`, `cloud_project_requests_daily`, control database;
//! written by the pool projection): notebooks per project against its limit, and provider
//! calls per project, provider and day.

use chrono::{NaiveDate, Utc};
use sqlx::PgPool;

use crate::error::{reading, Error};

/// One cloud project of the pool.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CloudProject {
    pub project_id: String,
    pub region: Option<String>,
    pub notebook_limit: i32,
    pub notebook_count: i32,
    /// `active`, `full` (count at or over the limit) or `maintenance` (set by an operator).
    pub status: String,
    pub maintenance: bool,
    /// The one company the project is dedicated to (registered by an operator with
    /// `trestle-admin project add --dedicated-to`); `None` for a shared project.
    pub dedicated_company_id: Option<uuid::Uuid>,
}

/// One project, if known.
pub async fn project(pool: &PgPool, project_id: &str) -> Result<Option<CloudProject>, Error> {
    sqlx::query_as(
        "SELECT project_id, region, notebook_limit, notebook_count, status, maintenance,
                dedicated_company_id
           FROM cloud_projects WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_optional(pool)
    .await
    .map_err(reading("cloud_projects"))
}

/// Every project, by id.
pub async fn projects(pool: &PgPool) -> Result<Vec<CloudProject>, Error> {
    sqlx::query_as(
        "SELECT project_id, region, notebook_limit, notebook_count, status, maintenance,
                dedicated_company_id
           FROM cloud_projects ORDER BY project_id",
    )
    .fetch_all(pool)
    .await
    .map_err(reading("cloud_projects"))
}

/// Requests per provider of a project on a day (UTC), by provider.
pub async fn requests_on(
    pool: &PgPool,
    project_id: &str,
    day: Day,
) -> Result<Vec<(String, i64)>, Error> {
    sqlx::query_as(
        "SELECT provider, requests FROM cloud_project_requests_daily
          WHERE project_id = $1 AND day = $2 ORDER BY provider",
    )
    .bind(project_id)
    .bind(day)
    .fetch_all(pool)
    .await
    .map_err(reading("cloud_project_requests_daily"))
}

/// A UTC calendar day, as `cloud_project_requests_daily` counts them.
pub type Day = NaiveDate;

/// Today in UTC.
pub fn today() -> Day {
    Utc::now().date_naive()
}
