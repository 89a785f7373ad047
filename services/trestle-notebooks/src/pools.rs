//! The warm tier's state in the company's shard: warm pools (notebooks shared by up to
//! `max_jobs` completed jobs of one company) and each job's move between tiers. One
//! transaction per change, as the company; a company's pool choices are serialized by an
//! advisory lock, so two jobs demoted at once count each other.

use sqlx::PgPool;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::error::{pg, Error};
use crate::ledger::{self, begin, Document, Job, Notebook};

/// The id of the company's `n`th warm pool. Never change this format: the provider knows
/// notebooks by it.
pub(crate) fn warm_pool_id(company: Uuid, n: i64) -> String {
    format!("{company}.warm.{n}")
}

/// What choosing a warm pool for a job came to.
pub(crate) enum Choice {
    /// The job is in this pool (now, or since an earlier try).
    In(Notebook),
    /// No pool has room: a new one of this id must be placed first.
    New(String),
}

async fn lock_pools(tx: &mut Transaction<'static, Postgres>, company: Uuid) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("trestle.warm_pools:{company}"))
        .execute(&mut **tx)
        .await
        .map_err(pg(company, "locking the company's warm pools"))?;
    Ok(())
}

async fn select_notebook(
    tx: &mut Transaction<'static, Postgres>,
    company: Uuid,
    id: &str,
) -> Result<Option<Notebook>, Error> {
    sqlx::query_as(
        "SELECT notebook_id, cloud_project_id, state, created_by, ready_by, deleted_by
           FROM notebooks WHERE company_id = $1 AND notebook_id = $2",
    )
    .bind(company)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(pg(company, "reading a notebook"))
}

/// Puts the job in `pool` if it has room for one more job and `documents` more sources.
async fn assign(
    tx: &mut Transaction<'static, Postgres>,
    company: Uuid,
    job_id: &str,
    pool: &str,
    documents: i32,
    max_jobs: i32,
    max_sources: i32,
) -> Result<bool, Error> {
    let taken = sqlx::query(
        "UPDATE notebooks SET warm_jobs = warm_jobs + 1, live_jobs = live_jobs + 1,
                              sources = sources + $3
          WHERE company_id = $1 AND notebook_id = $2 AND state <> 'deleted'
            AND warm_jobs < $4 AND sources + $3 <= $5",
    )
    .bind(company)
    .bind(pool)
    .bind(documents)
    .bind(max_jobs)
    .bind(max_sources)
    .execute(&mut **tx)
    .await
    .map_err(pg(company, "placing a job in a warm pool"))?
    .rows_affected()
        == 1;
    if taken {
        sqlx::query(
            "UPDATE jobs SET pool_notebook_id = $3, updated_at = now()
              WHERE company_id = $1 AND job_id = $2",
        )
        .bind(company)
        .bind(job_id)
        .bind(pool)
        .execute(&mut **tx)
        .await
        .map_err(pg(company, "placing a job in a warm pool"))?;
    }
    Ok(taken)
}

/// The warm pool of the job: the one chosen before, an open one with room, or the id of a new
/// one to place.
pub(crate) async fn choose(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    documents: i32,
    max_jobs: i32,
    max_sources: i32,
) -> Result<Choice, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    lock_pools(&mut tx, company).await?;
    let job = ledger::select_job(&mut tx, company, job_id)
        .await?
        .expect("a job being demoted is stored");
    if let Some(chosen) = job.pool_notebook_id {
        let notebook = select_notebook(&mut tx, company, &chosen)
            .await?
            .expect("a chosen pool is stored");
        tx.commit().await.map_err(err("choosing a warm pool"))?;
        return Ok(Choice::In(notebook));
    }
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT notebook_id FROM notebooks
          WHERE company_id = $1 AND purpose = 'warm_pool' AND state <> 'deleted'
            AND warm_jobs < $2 AND sources + $3 <= $4
          ORDER BY created_at, notebook_id",
    )
    .bind(company)
    .bind(max_jobs)
    .bind(documents)
    .bind(max_sources)
    .fetch_all(&mut *tx)
    .await
    .map_err(err("listing warm pools"))?;
    for candidate in open {
        if assign(
            &mut tx,
            company,
            job_id,
            &candidate,
            documents,
            max_jobs,
            max_sources,
        )
        .await?
        {
            let notebook = select_notebook(&mut tx, company, &candidate)
                .await?
                .expect("just assigned");
            tx.commit().await.map_err(err("choosing a warm pool"))?;
            return Ok(Choice::In(notebook));
        }
    }
    let pools: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notebooks WHERE company_id = $1 AND purpose = 'warm_pool'",
    )
    .bind(company)
    .fetch_one(&mut *tx)
    .await
    .map_err(err("counting warm pools"))?;
    tx.commit().await.map_err(err("choosing a warm pool"))?;
    Ok(Choice::New(warm_pool_id(company, pools + 1)))
}

/// A new warm pool to record: its id, the project it was placed in, and the first job's share.
#[derive(Clone, Copy)]
pub(crate) struct Opening<'a> {
    pub id: &'a str,
    pub project: &'a str,
    pub documents: i32,
    pub max_jobs: i32,
    pub max_sources: i32,
}

/// Records the new pool placed in its project and puts the job in it; `false` if another job
/// filled it meanwhile (choose again).
pub(crate) async fn open(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    opening: &Opening<'_>,
    by: Uuid,
) -> Result<bool, Error> {
    let Opening {
        id,
        project,
        documents,
        max_jobs,
        max_sources,
    } = *opening;
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    lock_pools(&mut tx, company).await?;
    sqlx::query(
        "INSERT INTO notebooks (company_id, notebook_id, purpose, cloud_project_id, state, created_by)
         VALUES ($1, $2, 'warm_pool', $3, 'creating', $4)
         ON CONFLICT (company_id, notebook_id) DO NOTHING",
    )
    .bind(company)
    .bind(id)
    .bind(project)
    .bind(by)
    .execute(&mut *tx)
    .await
    .map_err(err("recording a warm pool"))?;
    let taken = assign(
        &mut tx,
        company,
        job_id,
        id,
        documents,
        max_jobs,
        max_sources,
    )
    .await?;
    tx.commit().await.map_err(err("recording a warm pool"))?;
    Ok(taken)
}

/// The job's documents synced (into any notebook, or embedded only), in upload order.
pub(crate) async fn synced_documents(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
) -> Result<Vec<Document>, Error> {
    documents(pool, company, job_id, true).await
}

/// Every document of the job, in upload order.
pub(crate) async fn all_documents(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
) -> Result<Vec<Document>, Error> {
    documents(pool, company, job_id, false).await
}

async fn documents(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    synced_only: bool,
) -> Result<Vec<Document>, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    let rows = sqlx::query_as(
        "SELECT document_id, job_id, title, pages, added_event_id, sync_state, notebook_id,
                attempts, state_by
           FROM job_documents
          WHERE company_id = $1 AND job_id = $2 AND (NOT $3 OR sync_state = 'synced')
          ORDER BY added_at, document_id",
    )
    .bind(company)
    .bind(job_id)
    .bind(synced_only)
    .fetch_all(&mut *tx)
    .await
    .map_err(err("listing a job's documents"))?;
    tx.commit()
        .await
        .map_err(err("listing a job's documents"))?;
    Ok(rows)
}

/// The job now answers from `notebook` (None: cold) in `tier`, by the step of record `by`; its
/// synced documents are sources of that notebook. With `leave_pool`, the job leaves its warm
/// pool (going cold, or back to a notebook of its own): the pool's live jobs left, returned.
pub(crate) async fn set_tier(
    pool: &PgPool,
    company: Uuid,
    job: &Job,
    tier: &str,
    notebook: Option<&str>,
    leave_pool: bool,
    by: Uuid,
) -> Result<Option<i32>, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    let current = ledger::select_job(&mut tx, company, &job.job_id)
        .await?
        .expect("a job is stored");
    if current.tier_by == Some(by) {
        // Done by this record's step before: nothing to change again.
        tx.commit().await.map_err(err("changing a job's tier"))?;
        return Ok(None);
    }
    let mut left = None;
    if leave_pool {
        if let Some(pool_id) = &current.pool_notebook_id {
            left = sqlx::query_scalar(
                "UPDATE notebooks SET live_jobs = live_jobs - 1
                  WHERE company_id = $1 AND notebook_id = $2 AND live_jobs > 0
                 RETURNING live_jobs",
            )
            .bind(company)
            .bind(pool_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("taking a job out of its warm pool"))?;
        }
    }
    sqlx::query(
        "UPDATE jobs SET tier = $3, notebook_id = $4, tier_by = $5, updated_at = now(),
                         pool_notebook_id = CASE WHEN $6 THEN NULL ELSE pool_notebook_id END
          WHERE company_id = $1 AND job_id = $2",
    )
    .bind(company)
    .bind(&job.job_id)
    .bind(tier)
    .bind(notebook)
    .bind(by)
    .bind(leave_pool)
    .execute(&mut *tx)
    .await
    .map_err(err("changing a job's tier"))?;
    sqlx::query(
        "UPDATE job_documents SET notebook_id = $3
          WHERE company_id = $1 AND job_id = $2 AND sync_state = 'synced'",
    )
    .bind(company)
    .bind(&job.job_id)
    .bind(notebook)
    .execute(&mut *tx)
    .await
    .map_err(err("moving a job's documents"))?;
    tx.commit().await.map_err(err("changing a job's tier"))?;
    Ok(left)
}

/// Marks a notebook deleted at the provider by the step of record `by`; `true` if that step
/// is the one that did (now or in an earlier try).
pub(crate) async fn notebook_deleted(
    pool: &PgPool,
    company: Uuid,
    id: &str,
    by: Uuid,
) -> Result<bool, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "UPDATE notebooks SET state = 'deleted', deleted_at = now(), deleted_by = $3
          WHERE company_id = $1 AND notebook_id = $2 AND state <> 'deleted'",
    )
    .bind(company)
    .bind(id)
    .bind(by)
    .execute(&mut *tx)
    .await
    .map_err(err("marking a notebook deleted"))?;
    let deleted_by: Option<Uuid> = sqlx::query_scalar(
        "SELECT deleted_by FROM notebooks WHERE company_id = $1 AND notebook_id = $2",
    )
    .bind(company)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(err("marking a notebook deleted"))?
    .flatten();
    tx.commit()
        .await
        .map_err(err("marking a notebook deleted"))?;
    Ok(deleted_by == Some(by))
}

/// Sets every document of the job pending again (its new notebook has none of them).
pub(crate) async fn resync_documents(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
) -> Result<(), Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "UPDATE job_documents SET sync_state = 'pending', notebook_id = NULL, state_by = NULL
          WHERE company_id = $1 AND job_id = $2",
    )
    .bind(company)
    .bind(job_id)
    .execute(&mut *tx)
    .await
    .map_err(err("setting a job's documents to sync again"))?;
    tx.commit()
        .await
        .map_err(err("setting a job's documents to sync again"))
}

/// A re-created job whose documents are all synced again answers from its notebook: hot.
pub(crate) async fn promote_if_synced(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
) -> Result<(), Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "UPDATE jobs SET tier = 'hot', updated_at = now()
          WHERE company_id = $1 AND job_id = $2 AND tier = 'recreating'
            AND NOT EXISTS (SELECT 1 FROM job_documents d
                             WHERE d.company_id = $1 AND d.job_id = $2 AND d.sync_state = 'pending')",
    )
    .bind(company)
    .bind(job_id)
    .execute(&mut *tx)
    .await
    .map_err(err("promoting a re-created job"))?;
    tx.commit().await.map_err(err("promoting a re-created job"))
}

/// Records a reopening: the job is active again (its completion is kept, to cancel its
/// timers); the job as it is then.
pub(crate) async fn reopen(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    by: Uuid,
) -> Result<Job, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "UPDATE jobs SET status = 'active', reopened_by = $3, updated_at = now()
          WHERE company_id = $1 AND job_id = $2 AND status = 'completed'",
    )
    .bind(company)
    .bind(job_id)
    .bind(by)
    .execute(&mut *tx)
    .await
    .map_err(err("reopening a job"))?;
    let job = ledger::select_job(&mut tx, company, job_id)
        .await?
        .expect("a job is stored");
    tx.commit().await.map_err(err("reopening a job"))?;
    Ok(job)
}

/// The live jobs of a warm pool.
pub(crate) async fn live_jobs(pool: &PgPool, company: Uuid, id: &str) -> Result<i32, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    let live: Option<i32> = sqlx::query_scalar(
        "SELECT live_jobs FROM notebooks WHERE company_id = $1 AND notebook_id = $2",
    )
    .bind(company)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(err("reading a warm pool"))?;
    tx.commit().await.map_err(err("reading a warm pool"))?;
    Ok(live.unwrap_or(0))
}

/// Starts the re-creation of the job's own notebook for reopening `reopen` (next generation,
/// tier `recreating`); the job as it is then. Only for a job without a notebook of its own
/// (warm or cold): once started, a redone step finds it `recreating` and goes on.
pub(crate) async fn start_recreation(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    reopen: Uuid,
) -> Result<Job, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    let job = ledger::select_job(&mut tx, company, job_id)
        .await?
        .expect("a job is stored");
    if !matches!(job.tier.as_str(), "warm" | "cold") {
        tx.commit()
            .await
            .map_err(err("starting a notebook's re-creation"))?;
        return Ok(job);
    }
    let generation = job.generation + 1;
    sqlx::query(
        "UPDATE jobs SET generation = $3, tier = 'recreating', reopened_by = $4, notebook_id = $5,
                         updated_at = now()
          WHERE company_id = $1 AND job_id = $2",
    )
    .bind(company)
    .bind(job_id)
    .bind(generation)
    .bind(reopen)
    .bind(ledger::job_notebook_id(company, job_id, generation))
    .execute(&mut *tx)
    .await
    .map_err(err("starting a notebook's re-creation"))?;
    let job = ledger::select_job(&mut tx, company, job_id)
        .await?
        .expect("a job is stored");
    tx.commit()
        .await
        .map_err(err("starting a notebook's re-creation"))?;
    Ok(job)
}
