//! A job's documents and where each stands in its sync into a notebook (`job_documents` and
//! `jobs`, shard database; written by the notebook workflow), read as that tenant so
//! row-level security applies. The documents' text (`pages`) is not read.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{reading, Error};

/// A job's documents, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDocuments {
    pub job_id: String,
    /// By `added_at`, then `document_id`.
    pub documents: Vec<JobDocument>,
}

/// One document of a job and its sync state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobDocument {
    pub document_id: String,
    pub title: String,
    /// A `DocumentKind` symbol (`drawing`, `rfi`, …).
    pub kind: String,
    pub file_name: String,
    /// `pending` (waiting for a first or another attempt), `synced` (in `notebook_id` and
    /// embedded) or `failed` (given up: `last_error` says why).
    pub sync_state: String,
    /// The notebook it is a source of; `None` while it has none (e.g. the job is cold).
    pub notebook_id: Option<String>,
    /// Sync attempts so far.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub added_at: DateTime<Utc>,
    pub synced_at: Option<DateTime<Utc>>,
}

/// The documents of `company`'s job `job_id` in the shard database `pool`; `None` when the job
/// has no documents there and no `jobs` row either (unknown, or not recorded yet).
pub async fn for_job(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
) -> Result<Option<JobDocuments>, Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let documents: Vec<JobDocument> = sqlx::query_as(
        "SELECT document_id, title, kind, file_name, sync_state, notebook_id, attempts,
                last_error, added_at, synced_at
           FROM job_documents
          WHERE company_id = $1 AND job_id = $2
          ORDER BY added_at, document_id",
    )
    .bind(company)
    .bind(job_id)
    .fetch_all(&mut *tx)
    .await
    .map_err(reading("job_documents"))?;
    let known = !documents.is_empty()
        || sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE company_id = $1 AND job_id = $2)",
        )
        .bind(company)
        .bind(job_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(reading("jobs"))?;
    tx.commit().await.map_err(reading("job_documents"))?;
    Ok(known.then(|| JobDocuments {
        job_id: job_id.to_owned(),
        documents,
    }))
}
