//! Which cloud project a new notebook goes to (control database): the company's own project
//! while it has room, else the least loaded active project the company may use — another shared
//! project of its region, or for a dedicated company only another project of its own. Decided
//! once per notebook id (`notebook_placements`); never more live notebooks in a project than its
//! limit, counted in `notebook_capacity` under an advisory lock per project.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{pg, Error};

/// What placement needs to know of the company (from its tenant routing).
#[derive(Debug, Clone)]
pub struct Home {
    pub company: Uuid,
    pub region: String,
    pub cloud_project_id: String,
    pub dedicated: bool,
}

/// One project the notebook could go to.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Candidate {
    project_id: String,
    notebook_limit: i32,
    live: i32,
}

/// The project of `notebook`: the one it was placed in before, or a new placement. Projects in
/// `exclude` (the provider said they are full) are passed over.
pub async fn place(
    control: &PgPool,
    notebook: &str,
    home: &Home,
    exclude: &[String],
) -> Result<String, Error> {
    let company = home.company;
    if let Some(project) = placed(control, notebook, company).await? {
        return Ok(project);
    }
    // The home project first (default limit while the pool has not projected it yet), then
    // the others the company may use, least loaded first.
    let candidates: Vec<Candidate> = sqlx::query_as(
        "WITH home AS (SELECT $1::text AS project_id)
         SELECT p.project_id, p.notebook_limit, coalesce(c.live, 0) AS live
           FROM (SELECT h.project_id, coalesce(cp.notebook_limit, 50000) AS notebook_limit,
                        coalesce(cp.maintenance, false) AS maintenance, 0 AS rank
                   FROM home h LEFT JOIN cloud_projects cp ON cp.project_id = h.project_id
                 UNION ALL
                 SELECT cp.project_id, cp.notebook_limit, cp.maintenance, 1
                   FROM cloud_projects cp
                  WHERE cp.project_id <> $1
                    AND cp.region = $2
                    AND CASE WHEN $3 THEN cp.dedicated_company_id = $4
                             ELSE cp.dedicated_company_id IS NULL END) p
           LEFT JOIN notebook_capacity c ON c.cloud_project_id = p.project_id
          WHERE NOT p.maintenance AND NOT (p.project_id = ANY($5))
          ORDER BY p.rank, coalesce(c.live, 0), p.project_id",
    )
    .bind(&home.cloud_project_id)
    .bind(&home.region)
    .bind(home.dedicated)
    .bind(company)
    .bind(exclude)
    .fetch_all(control)
    .await
    .map_err(pg(company, "listing cloud projects for a notebook"))?;
    for candidate in candidates {
        if candidate.live >= candidate.notebook_limit {
            continue;
        }
        if let Some(project) = reserve(control, notebook, company, &candidate).await? {
            return Ok(project);
        }
    }
    Err(Error::NoCapacity {
        company,
        region: home.region.clone(),
    })
}

/// Where `notebook` was placed, if it was.
async fn placed(control: &PgPool, notebook: &str, company: Uuid) -> Result<Option<String>, Error> {
    sqlx::query_scalar("SELECT cloud_project_id FROM notebook_placements WHERE notebook_id = $1")
        .bind(notebook)
        .fetch_optional(control)
        .await
        .map_err(pg(company, "reading a notebook placement"))
}

/// Places `notebook` in the candidate if it still has room (under the project's lock).
async fn reserve(
    control: &PgPool,
    notebook: &str,
    company: Uuid,
    candidate: &Candidate,
) -> Result<Option<String>, Error> {
    let err = |step| pg(company, step);
    let mut tx = control.begin().await.map_err(err("placing a notebook"))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!(
            "trestle.notebook_capacity:{}",
            candidate.project_id
        ))
        .execute(&mut *tx)
        .await
        .map_err(err("locking a project's notebook capacity"))?;
    // A concurrent step for the same notebook may have placed it meanwhile.
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT cloud_project_id FROM notebook_placements WHERE notebook_id = $1",
    )
    .bind(notebook)
    .fetch_optional(&mut *tx)
    .await
    .map_err(err("reading a notebook placement"))?;
    if let Some(project) = existing {
        return Ok(Some(project));
    }
    let live: i32 = sqlx::query_scalar(
        "SELECT coalesce((SELECT live FROM notebook_capacity WHERE cloud_project_id = $1), 0)",
    )
    .bind(&candidate.project_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(err("reading a project's notebook capacity"))?;
    if live >= candidate.notebook_limit {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO notebook_placements (notebook_id, company_id, cloud_project_id)
         VALUES ($1, $2, $3)",
    )
    .bind(notebook)
    .bind(company)
    .bind(&candidate.project_id)
    .execute(&mut *tx)
    .await
    .map_err(err("recording a notebook placement"))?;
    sqlx::query(
        "INSERT INTO notebook_capacity (cloud_project_id, live) VALUES ($1, 1)
         ON CONFLICT (cloud_project_id) DO UPDATE SET live = notebook_capacity.live + 1",
    )
    .bind(&candidate.project_id)
    .execute(&mut *tx)
    .await
    .map_err(err("counting a project's notebooks"))?;
    tx.commit().await.map_err(err("placing a notebook"))?;
    Ok(Some(candidate.project_id.clone()))
}

/// Frees the place of a notebook deleted at the provider (or never created there); nothing
/// to do when it was freed before.
pub async fn release(control: &PgPool, notebook: &str, company: Uuid) -> Result<(), Error> {
    let err = |step| pg(company, step);
    let mut tx = control
        .begin()
        .await
        .map_err(err("freeing a notebook's place"))?;
    let project: Option<String> = sqlx::query_scalar(
        "UPDATE notebook_placements SET deleted_at = now()
          WHERE notebook_id = $1 AND deleted_at IS NULL
         RETURNING cloud_project_id",
    )
    .bind(notebook)
    .fetch_optional(&mut *tx)
    .await
    .map_err(err("freeing a notebook's place"))?;
    if let Some(project) = project {
        sqlx::query("UPDATE notebook_capacity SET live = live - 1 WHERE cloud_project_id = $1")
            .bind(project)
            .execute(&mut *tx)
            .await
            .map_err(err("counting a project's notebooks"))?;
    }
    tx.commit().await.map_err(err("freeing a notebook's place"))
}
