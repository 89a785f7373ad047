//! Placing a registered company: its database shard and its cloud project, decided once in the
//! control database's placement ledger (`tenant_placements`).
//!
//! - Shard: shared companies go to `murmur2(company key) mod shards.shared` (the seed's hash
//!   of company_id; the same function routes usage of unprovisioned companies); a dedicated
//!   enterprise company goes to `shards.dedicated`.
//! - Project: shared companies go to the least loaded active project of their region that is
//!   not dedicated to a company — load is notebooks plus companies placed there (each company
//!   will hold at least its knowledge-base notebook), then today's requests, then the id;
//!   maintenance and full projects (`cloud_projects.status`) are skipped. A dedicated company
//!   gets a project of its own, `dedicated-<company_id>`.
//!
//! Placements are serialised by an advisory lock, so concurrent placements (any number of
//! onboarding instances) see each other's companies when they compare loads.

use sqlx::PgPool;
use trestle_events::{IsolationLevel, Region};
use uuid::Uuid;

use crate::{Error, ShardOptions};

/// Where a company lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub database_shard: i32,
    pub cloud_project_id: String,
    pub isolation: IsolationLevel,
}

/// What the ledger says about a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Placed now, or earlier by this same registration (a redone step): provision it.
    Provision(Placement),
    /// The company was placed by another registration: this one is a duplicate.
    Duplicate { registration_event_id: Uuid },
}

/// Why a company cannot be placed yet; the step retries later.
#[derive(Debug, thiserror::Error)]
pub enum Unplaceable {
    #[error(
        "no active shared cloud project in region {region}: add one with \
         `trestle-admin project add <id> --region {region}` or end a maintenance"
    )]
    NoProject { region: &'static str },
    #[error(transparent)]
    Store(#[from] Error),
}

/// The id of a dedicated company's own cloud project.
pub fn dedicated_project(company: Uuid) -> String {
    format!("dedicated-{company}")
}

/// The shard of a shared company.
pub fn shared_shard(company: Uuid, shards: &ShardOptions) -> i32 {
    trestle_kafka::partition_for_key(
        trestle_kafka::company_key(&company).as_bytes(),
        shards.shared,
    )
}

/// The registration record being placed: its event and its place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub company: Uuid,
    pub event_id: Uuid,
    pub partition: i32,
    pub offset: i64,
    pub region: Region,
    pub isolation: IsolationLevel,
}

/// Places the company of `registration`, or says who placed it before. The step redone for
/// the same record (a crash or rebalance before its commit) gets its placement back; any
/// other record — the same event re-published, a second registration — is a duplicate.
pub async fn place(
    pool: &PgPool,
    registration: &Registration,
    shards: &ShardOptions,
) -> Result<Placed, Unplaceable> {
    let Registration {
        company,
        region,
        isolation,
        ..
    } = *registration;
    let db = |step: &'static str| move |source| Error::Postgres { step, source };
    let mut tx = pool.begin().await.map_err(db("begin"))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('trestle.tenant_placements'))")
        .execute(&mut *tx)
        .await
        .map_err(db("lock"))?;
    let existing: Option<(Uuid, i32, i64, i32, String, String)> = sqlx::query_as(
        "SELECT registration_event_id, registration_partition, registration_offset, \
         database_shard, cloud_project_id, isolation_level \
         FROM tenant_placements WHERE company_id = $1",
    )
    .bind(company)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db("read placement"))?;
    if let Some((event, partition, offset, database_shard, cloud_project_id, isolation)) = existing
    {
        let same_record = (partition, offset) == (registration.partition, registration.offset);
        return Ok(if same_record {
            Placed::Provision(Placement {
                database_shard,
                cloud_project_id,
                isolation: isolation.parse().unwrap_or(IsolationLevel::Unknown),
            })
        } else {
            Placed::Duplicate {
                registration_event_id: event,
            }
        });
    }
    let placement = if isolation == IsolationLevel::Dedicated {
        Placement {
            database_shard: shards.dedicated,
            cloud_project_id: dedicated_project(company),
            isolation,
        }
    } else {
        let project = least_loaded(&mut tx, region).await?;
        Placement {
            database_shard: shared_shard(company, shards),
            cloud_project_id: project.ok_or(Unplaceable::NoProject {
                region: region.as_str(),
            })?,
            isolation: IsolationLevel::Shared,
        }
    };
    sqlx::query(
        "INSERT INTO tenant_placements (company_id, registration_event_id, \
         registration_partition, registration_offset, region, database_shard, \
         cloud_project_id, isolation_level) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(company)
    .bind(registration.event_id)
    .bind(registration.partition)
    .bind(registration.offset)
    .bind(region.as_str())
    .bind(placement.database_shard)
    .bind(&placement.cloud_project_id)
    .bind(placement.isolation.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db("insert placement"))?;
    tx.commit().await.map_err(db("commit"))?;
    Ok(Placed::Provision(placement))
}

/// The least loaded active shared project of `region`.
async fn least_loaded(
    tx: &mut sqlx::PgConnection,
    region: Region,
) -> Result<Option<String>, Error> {
    sqlx::query_scalar(
        "SELECT p.project_id FROM cloud_projects p \
         LEFT JOIN (SELECT cloud_project_id, count(*) AS companies FROM tenant_placements \
                    GROUP BY cloud_project_id) t ON t.cloud_project_id = p.project_id \
         LEFT JOIN (SELECT project_id, sum(requests) AS requests FROM cloud_project_requests_daily \
                    WHERE day = (now() AT TIME ZONE 'UTC')::date GROUP BY project_id) q \
                ON q.project_id = p.project_id \
         WHERE p.region = $1 AND p.status = 'active' AND p.dedicated_company_id IS NULL \
         ORDER BY p.notebook_count + coalesce(t.companies, 0), coalesce(q.requests, 0), p.project_id \
         LIMIT 1",
    )
    .bind(region.as_str())
    .fetch_optional(tx)
    .await
    .map_err(|source| Error::Postgres {
        step: "choose project",
        source,
    })
}
