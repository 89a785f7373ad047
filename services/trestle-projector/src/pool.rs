//! The cloud-project pool projection: notebooks per cloud project against its limit (status
//! active / full / maintenance) and provider calls per project, provider and day, folded from
//! `notebooks`, `ai-outcomes` and `tenants` into the control database, with the operator's
//! settings of each project (maintenance, notebook limit) from `cloud-projects`.
//!
//! Counting is per notebook, not per event: `pool_notebooks` remembers every notebook id, so a
//! NotebookCreated counts once and a NotebookArchived frees its place once, even if re-published.
//! NotebookRecreated is a new notebook (new id) taking a place again; NotebookDemoted changes
//! no count (the old notebook, when deleted, is archived by its own NotebookArchived).
//! Requests count once per outcome `event_id` (`cloud_project_request_events`): a re-published
//! outcome carries the same event id, while two outcomes of one request are two provider calls
//! and both use the project's quota.
//! Operator decisions (`CloudProjectRegistered`, `CloudProjectMaintenanceSet`,
//! `CloudProjectLimitSet`) set columns to the latest value in log order (one project's events
//! share a partition); applying one again changes nothing. A registration sets the region, the
//! notebook limit and the dedicated company (none for a shared project); the region it sets
//! wins over the one provisioning filled in. `trestle_query::pool` reads the tables.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::{Event, Region};
use uuid::Uuid;

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};

/// `notebooks` + `ai-outcomes` + `tenants` + `cloud-projects` → `cloud_projects`,
/// `pool_notebooks`, `cloud_project_requests_daily` (control database).
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolProjection;

impl Projection for PoolProjection {
    fn name(&self) -> &'static str {
        "pool"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["notebooks", "ai-outcomes", "tenants", "cloud-projects"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        let event = decode_keyed(record)?;
        Ok(match &event {
            Event::NotebookCreated(_)
            | Event::NotebookArchived(_)
            | Event::NotebookRecreated(_)
            | Event::TenantProvisioned(_)
            | Event::CloudProjectRegistered(_)
            | Event::CloudProjectMaintenanceSet(_)
            | Event::CloudProjectLimitSet(_) => Some(event),
            Event::AiRequestCompleted(c) if c.cloud_project_id.is_some() => Some(event),
            _ => None,
        })
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let mut batch = Batch::default();
            for s in events {
                batch.add(s.event);
            }
            let duplicates = batch.apply(conn).await?;
            Ok(Applied { duplicates })
        })
    }
}

/// A batch's pool changes as parallel arrays, one statement each.
#[derive(Default)]
struct Batch {
    // projects provisioned: (project, region)
    projects: Vec<String>,
    project_regions: Vec<Option<String>>,
    // notebook transitions, in log order: kind is +1 (created / recreated) or -1 (archived)
    kinds: Vec<i32>,
    notebooks: Vec<String>,
    notebook_projects: Vec<String>,
    notebook_at: Vec<DateTime<Utc>>,
    // completed requests
    event_ids: Vec<Uuid>,
    days: Vec<NaiveDate>,
    request_projects: Vec<String>,
    providers: Vec<String>,
    // operator decisions, the latest per project
    settings: BTreeMap<String, Settings>,
}

/// A batch's latest operator decisions about one project; `None`: not decided in the batch, the
/// stored value stays.
#[derive(Debug, Default)]
struct Settings {
    maintenance: Option<bool>,
    notebook_limit: Option<i32>,
    region: Option<String>,
    /// Set by a registration: the project's dedicated company, `Some(None)` for a shared one.
    dedicated_company_id: Option<Option<Uuid>>,
}

impl Batch {
    fn add(&mut self, event: Event) {
        let mut notebook = |kind: i32, id: String, project: String, at: DateTime<Utc>| {
            self.kinds.push(kind);
            self.notebooks.push(id);
            self.notebook_projects.push(project);
            self.notebook_at.push(at);
        };
        match event {
            Event::NotebookCreated(e) => {
                notebook(1, e.notebook_id, e.cloud_project_id, e.meta.occurred_at)
            }
            Event::NotebookRecreated(e) => {
                notebook(1, e.notebook_id, e.cloud_project_id, e.meta.occurred_at)
            }
            Event::NotebookArchived(e) => {
                notebook(-1, e.notebook_id, e.cloud_project_id, e.meta.occurred_at)
            }
            Event::TenantProvisioned(e) => {
                self.projects.push(e.cloud_project_id);
                self.project_regions
                    .push((e.region != Region::Unknown).then(|| e.region.as_str().to_owned()));
            }
            Event::AiRequestCompleted(e) => {
                if let Some(project) = e.cloud_project_id {
                    self.event_ids.push(e.meta.event_id);
                    self.days.push(e.meta.occurred_at.date_naive());
                    self.request_projects.push(project);
                    self.providers.push(e.provider);
                }
            }
            Event::CloudProjectRegistered(e) => {
                let settings = self.settings.entry(e.cloud_project_id).or_default();
                if e.region != Region::Unknown {
                    settings.region = Some(e.region.as_str().to_owned());
                }
                settings.notebook_limit = Some(e.notebook_limit);
                settings.dedicated_company_id = Some(e.dedicated_company_id);
            }
            Event::CloudProjectMaintenanceSet(e) => {
                self.settings
                    .entry(e.cloud_project_id)
                    .or_default()
                    .maintenance = Some(e.maintenance);
            }
            Event::CloudProjectLimitSet(e) => {
                self.settings
                    .entry(e.cloud_project_id)
                    .or_default()
                    .notebook_limit = Some(e.notebook_limit);
            }
            _ => {}
        }
    }

    /// Applies the batch; returns how many events changed nothing (already counted).
    async fn apply(self, conn: &mut PgConnection) -> Result<usize, sqlx::Error> {
        let mut duplicates = 0;
        if !self.projects.is_empty() {
            sqlx::query(
                "INSERT INTO cloud_projects AS p (project_id, region)
                 SELECT DISTINCT ON (project) project, region
                   FROM unnest($1::text[], $2::text[]) AS u(project, region)
                 ON CONFLICT (project_id) DO UPDATE SET
                     region = coalesce(p.region, EXCLUDED.region), updated_at = now()
                   WHERE p.region IS NULL AND EXCLUDED.region IS NOT NULL",
            )
            .bind(&self.projects)
            .bind(&self.project_regions)
            .execute(&mut *conn)
            .await?;
        }
        if !self.kinds.is_empty() {
            let changed: i64 = sqlx::query_scalar("SELECT apply_pool_notebooks($1, $2, $3, $4)")
                .bind(&self.kinds)
                .bind(&self.notebooks)
                .bind(&self.notebook_projects)
                .bind(&self.notebook_at)
                .fetch_one(&mut *conn)
                .await?;
            duplicates += self.kinds.len() - changed as usize;
        }
        if !self.event_ids.is_empty() {
            let fresh: i64 = sqlx::query_scalar(
                "WITH batch AS (
                   SELECT DISTINCT ON (e) e, d, project, provider
                     FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[])
                          AS u(e, d, project, provider)
                 ),
                 fresh AS (
                   INSERT INTO cloud_project_request_events (event_id, day)
                   SELECT e, d FROM batch
                   ON CONFLICT (event_id) DO NOTHING
                   RETURNING event_id
                 ),
                 counted AS (
                   SELECT project, provider, d AS day, count(*) AS n
                     FROM batch JOIN fresh ON fresh.event_id = batch.e
                    GROUP BY project, provider, d
                 ),
                 projects AS (
                   INSERT INTO cloud_projects (project_id)
                   SELECT DISTINCT project FROM counted
                   ON CONFLICT (project_id) DO NOTHING
                 ),
                 upserted AS (
                   INSERT INTO cloud_project_requests_daily AS r (project_id, provider, day, requests)
                   SELECT project, provider, day, n FROM counted
                   ON CONFLICT (project_id, day, provider)
                     DO UPDATE SET requests = r.requests + EXCLUDED.requests
                   RETURNING 1
                 )
                 SELECT coalesce(sum(n), 0)::int8 FROM counted",
            )
            .bind(&self.event_ids)
            .bind(&self.days)
            .bind(&self.request_projects)
            .bind(&self.providers)
            .fetch_one(&mut *conn)
            .await?;
            duplicates += self.event_ids.len() - fresh as usize;
        }
        apply_settings(conn, &self.settings).await?;
        Ok(duplicates)
    }
}

/// Operator decisions: each project's row (created if the pool has not seen it yet) takes the
/// batch's latest maintenance switch, notebook limit, region and dedicated company; what the
/// batch has not decided stays as stored.
async fn apply_settings(
    conn: &mut PgConnection,
    settings: &BTreeMap<String, Settings>,
) -> Result<(), sqlx::Error> {
    if settings.is_empty() {
        return Ok(());
    }
    let projects: Vec<&str> = settings.keys().map(String::as_str).collect();
    let maintenance: Vec<Option<bool>> = settings.values().map(|s| s.maintenance).collect();
    let limits: Vec<Option<i32>> = settings.values().map(|s| s.notebook_limit).collect();
    let regions: Vec<Option<&str>> = settings.values().map(|s| s.region.as_deref()).collect();
    let registered: Vec<bool> = settings
        .values()
        .map(|s| s.dedicated_company_id.is_some())
        .collect();
    let dedicated: Vec<Option<Uuid>> = settings
        .values()
        .map(|s| s.dedicated_company_id.flatten())
        .collect();
    // Two statements: an UPDATE would not see rows an INSERT of the same statement created.
    sqlx::query(
        "INSERT INTO cloud_projects (project_id) SELECT unnest($1::text[])
         ON CONFLICT (project_id) DO NOTHING",
    )
    .bind(&projects)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE cloud_projects p
            SET maintenance = coalesce(u.m, p.maintenance),
                notebook_limit = coalesce(u.l, p.notebook_limit),
                region = coalesce(u.r, p.region),
                dedicated_company_id =
                  CASE WHEN u.registered THEN u.d ELSE p.dedicated_company_id END,
                updated_at = now()
           FROM unnest($1::text[], $2::bool[], $3::int4[], $4::text[], $5::bool[], $6::uuid[])
                AS u(project, m, l, r, registered, d)
          WHERE p.project_id = u.project",
    )
    .bind(&projects)
    .bind(&maintenance)
    .bind(&limits)
    .bind(&regions)
    .bind(&registered)
    .bind(&dedicated)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
