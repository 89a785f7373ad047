//! The routing projection: `tenants` → `tenant_routing` in the control database (company →
//! region, database shard, cloud project, isolation level, tier); `trestle_query::routing`
//! reads it.
//!
//! Registration and provisioning of one company may be published in either order (different
//! services publish them). Each event writes only its own columns, and only if it is newer
//! (`occurred_at`) than the one of its kind already applied; `region` is derived (provisioned,
//! else registered). So the row is the same whichever arrives first, and a re-published older
//! event changes nothing.

use std::collections::HashMap;

use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::{CompanyRegistered, Event, IsolationLevel, Region, TenantProvisioned, Tier};
use uuid::Uuid;

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};

/// `tenants` → `tenant_routing` (control database).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoutingProjection;

impl Projection for RoutingProjection {
    fn name(&self) -> &'static str {
        "routing"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["tenants"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        let event = decode_keyed(record)?;
        match event {
            Event::CompanyRegistered(_) | Event::TenantProvisioned(_) => Ok(Some(event)),
            // A move's cut-over is the TenantProvisioned it publishes; its other events only
            // frame it, and the rest of the topic (CompanyReady, ...) does not change routing
            // (decode_keyed checked the topic).
            _ => Ok(None),
        }
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let (registered, provisioned) = latest_per_company(events);
            let duplicates = upsert_registered(conn, registered).await?
                + upsert_provisioned(conn, provisioned).await?;
            Ok(Applied { duplicates })
        })
    }
}

/// A batch's latest registration and latest provisioning per company (by `occurred_at`; on a
/// tie the later in the log, which is the order `events` arrive in per partition).
pub(crate) fn latest_per_company(
    events: Vec<Sourced>,
) -> (
    HashMap<Uuid, CompanyRegistered>,
    HashMap<Uuid, TenantProvisioned>,
) {
    let mut registered: HashMap<Uuid, CompanyRegistered> = HashMap::new();
    let mut provisioned: HashMap<Uuid, TenantProvisioned> = HashMap::new();
    for s in events {
        match s.event {
            Event::CompanyRegistered(e) => {
                let newer = registered
                    .get(&e.meta.company_id)
                    .is_none_or(|old| e.meta.occurred_at >= old.meta.occurred_at);
                if newer {
                    registered.insert(e.meta.company_id, e);
                }
            }
            Event::TenantProvisioned(e) => {
                let newer = provisioned
                    .get(&e.meta.company_id)
                    .is_none_or(|old| e.meta.occurred_at >= old.meta.occurred_at);
                if newer {
                    provisioned.insert(e.meta.company_id, e);
                }
            }
            _ => {}
        }
    }
    (registered, provisioned)
}

pub(crate) fn region(r: Region) -> Option<String> {
    (r != Region::Unknown).then(|| r.as_str().to_owned())
}

pub(crate) fn tier(t: Tier) -> Option<String> {
    (t != Tier::Unknown).then(|| t.as_str().to_owned())
}

pub(crate) fn isolation(i: IsolationLevel) -> Option<String> {
    (i != IsolationLevel::Unknown).then(|| i.as_str().to_owned())
}

/// Registrations in one statement; returns how many were older than what is stored.
async fn upsert_registered(
    conn: &mut PgConnection,
    latest: HashMap<Uuid, CompanyRegistered>,
) -> Result<usize, sqlx::Error> {
    if latest.is_empty() {
        return Ok(0);
    }
    let n = latest.len();
    let (mut ids, mut regions, mut tiers, mut names, mut at) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, e) in latest {
        ids.push(id);
        regions.push(region(e.region));
        tiers.push(tier(e.tier));
        names.push(e.name);
        at.push(e.meta.occurred_at);
    }
    // A symbol this build does not know (`unknown`) keeps what is stored.
    let written = sqlx::query(
        "INSERT INTO tenant_routing AS t (company_id, registered_region, tier, name, registered_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
         ON CONFLICT (company_id) DO UPDATE SET
             registered_region = coalesce(EXCLUDED.registered_region, t.registered_region),
             tier = coalesce(EXCLUDED.tier, t.tier),
             name = EXCLUDED.name,
             registered_at = EXCLUDED.registered_at,
             updated_at = now()
           WHERE t.registered_at IS NULL OR EXCLUDED.registered_at >= t.registered_at",
    )
    .bind(&ids)
    .bind(&regions)
    .bind(&tiers)
    .bind(&names)
    .bind(&at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n - written as usize)
}

/// Provisionings in one statement; returns how many were older than what is stored.
async fn upsert_provisioned(
    conn: &mut PgConnection,
    latest: HashMap<Uuid, TenantProvisioned>,
) -> Result<usize, sqlx::Error> {
    if latest.is_empty() {
        return Ok(0);
    }
    let n = latest.len();
    let (mut ids, mut regions, mut shards, mut projects, mut levels, mut notebooks, mut at) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (id, e) in latest {
        ids.push(id);
        regions.push(region(e.region));
        shards.push(e.database_shard);
        projects.push(e.cloud_project_id);
        levels.push(isolation(e.isolation_level));
        notebooks.push(e.kb_notebook_id);
        at.push(e.meta.occurred_at);
    }
    let written = sqlx::query(
        "INSERT INTO tenant_routing AS t (company_id, provisioned_region, database_shard,
             cloud_project_id, isolation_level, kb_notebook_id, provisioned_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::text[], $5::text[],
                              $6::text[], $7::timestamptz[])
         ON CONFLICT (company_id) DO UPDATE SET
             provisioned_region = coalesce(EXCLUDED.provisioned_region, t.provisioned_region),
             database_shard = EXCLUDED.database_shard,
             cloud_project_id = EXCLUDED.cloud_project_id,
             isolation_level = coalesce(EXCLUDED.isolation_level, t.isolation_level),
             kb_notebook_id = EXCLUDED.kb_notebook_id,
             provisioned_at = EXCLUDED.provisioned_at,
             updated_at = now()
           WHERE t.provisioned_at IS NULL OR EXCLUDED.provisioned_at >= t.provisioned_at",
    )
    .bind(&ids)
    .bind(&regions)
    .bind(&shards)
    .bind(&projects)
    .bind(&levels)
    .bind(&notebooks)
    .bind(&at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n - written as usize)
}
