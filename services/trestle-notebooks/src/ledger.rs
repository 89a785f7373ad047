//! The workflow's state in the company's shard (migrations/shard/0006_notebooks.sql): jobs,
//! notebooks, documents and their embeddings, each write one transaction as the company
//! (row-level security). Every write is idempotent, and a row says which record's step wrote
//! it, so a redone step can tell its own change from an earlier one.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use trestle_events::DocumentAdded;
use uuid::Uuid;

use crate::error::{pg, Error};

/// A job as the workflow keeps it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Job {
    pub job_id: String,
    pub name: String,
    /// `active` or `completed`.
    pub status: String,
    /// `hot`, `warm`, `cold` or `recreating`.
    pub tier: String,
    pub notebook_id: Option<String>,
    pub generation: i32,
    /// The warm pool chosen for its demotion.
    pub pool_notebook_id: Option<String>,
    pub tier_by: Option<Uuid>,
    pub completion_id: Option<Uuid>,
    pub reopened_by: Option<Uuid>,
}

/// A notebook of the company.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notebook {
    pub notebook_id: String,
    pub cloud_project_id: String,
    /// `creating`, `ready` or `deleted`.
    pub state: String,
    pub created_by: Uuid,
    pub ready_by: Option<Uuid>,
    pub deleted_by: Option<Uuid>,
}

/// A document with its text and sync state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Document {
    pub document_id: String,
    pub job_id: String,
    pub title: String,
    pub pages: Vec<String>,
    pub added_event_id: Uuid,
    /// `pending`, `synced` or `failed`.
    pub sync_state: String,
    pub notebook_id: Option<String>,
    pub attempts: i32,
    pub state_by: Option<Uuid>,
}

/// The id of a job's own notebook of `generation`. Unique across companies (it starts with
/// the company id) and never reused (a re-creation takes the next generation). Never change
/// this format: the provider knows notebooks by it.
pub fn job_notebook_id(company: Uuid, job_id: &str, generation: i32) -> String {
    format!("{company}.job.{job_id}.{generation}")
}

pub(crate) async fn begin(
    pool: &PgPool,
    company: Uuid,
) -> Result<Transaction<'static, Postgres>, Error> {
    Ok(trestle_store::begin_for_tenant(pool, company).await?)
}

/// The job, created (active, hot, its first notebook's id chosen) if it is new.
pub async fn ensure_job(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    name: &str,
    at: DateTime<Utc>,
) -> Result<Job, Error> {
    let notebook = job_notebook_id(company, job_id, 1);
    insert_active(pool, company, job_id, name, &notebook, at).await
}

/// The company's knowledge-base scope ([`crate::KNOWLEDGE_BASE`]) as a job row: active and hot
/// forever, its notebook the knowledge base `notebook_id`. Created if it is new.
pub async fn ensure_knowledge_base(
    pool: &PgPool,
    company: Uuid,
    notebook_id: &str,
    at: DateTime<Utc>,
) -> Result<Job, Error> {
    let scope = crate::KNOWLEDGE_BASE;
    insert_active(pool, company, scope, "Knowledge base", notebook_id, at).await
}

/// The job row, inserted active and hot with `notebook` if it is not there.
async fn insert_active(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    name: &str,
    notebook: &str,
    at: DateTime<Utc>,
) -> Result<Job, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "INSERT INTO jobs (company_id, job_id, name, status, tier, notebook_id, generation, created_at)
         VALUES ($1, $2, $3, 'active', 'hot', $4, 1, $5)
         ON CONFLICT (company_id, job_id) DO NOTHING",
    )
    .bind(company)
    .bind(job_id)
    .bind(name)
    .bind(notebook)
    .bind(at)
    .execute(&mut *tx)
    .await
    .map_err(err("creating a job"))?;
    let job = select_job(&mut tx, company, job_id)
        .await?
        .expect("inserted or there");
    tx.commit().await.map_err(err("creating a job"))?;
    Ok(job)
}

pub(crate) async fn select_job(
    tx: &mut Transaction<'static, Postgres>,
    company: Uuid,
    job_id: &str,
) -> Result<Option<Job>, Error> {
    sqlx::query_as(
        "SELECT job_id, name, status, tier, notebook_id, generation, pool_notebook_id, tier_by,
                completion_id, reopened_by
           FROM jobs WHERE company_id = $1 AND job_id = $2",
    )
    .bind(company)
    .bind(job_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(pg(company, "reading a job"))
}

/// Marks the job completed (following completion `completion_id`) or active again (`None`).
pub async fn set_job_status(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    completion: Option<(Uuid, DateTime<Utc>)>,
) -> Result<(), Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "UPDATE jobs SET status = CASE WHEN $3::uuid IS NULL THEN 'active' ELSE 'completed' END,
                         completion_id = $3, completed_at = $4, updated_at = now()
          WHERE company_id = $1 AND job_id = $2",
    )
    .bind(company)
    .bind(job_id)
    .bind(completion.map(|(id, _)| id))
    .bind(completion.map(|(_, at)| at))
    .execute(&mut *tx)
    .await
    .map_err(err("changing a job's status"))?;
    tx.commit().await.map_err(err("changing a job's status"))
}

/// The notebook, if the company has (had) it.
pub async fn notebook(pool: &PgPool, company: Uuid, id: &str) -> Result<Option<Notebook>, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    let row = sqlx::query_as(
        "SELECT notebook_id, cloud_project_id, state, created_by, ready_by, deleted_by
           FROM notebooks WHERE company_id = $1 AND notebook_id = $2",
    )
    .bind(company)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(err("reading a notebook"))?;
    tx.commit().await.map_err(err("reading a notebook"))?;
    Ok(row)
}

/// Records a notebook chosen in `project` (state `creating`) for `job_id` (purpose `job`),
/// or the company's knowledge base (`None`); the existing row if there.
pub async fn insert_notebook(
    pool: &PgPool,
    company: Uuid,
    id: &str,
    job_id: Option<&str>,
    project: &str,
    by: Uuid,
) -> Result<Notebook, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    let row = sqlx::query_as(
        "WITH ins AS (
           INSERT INTO notebooks (company_id, notebook_id, purpose, job_id, cloud_project_id, state, created_by)
           VALUES ($1, $2, CASE WHEN $3::text IS NULL THEN 'knowledge_base' ELSE 'job' END,
                   $3, $4, 'creating', $5)
           ON CONFLICT (company_id, notebook_id) DO NOTHING
           RETURNING notebook_id, cloud_project_id, state, created_by, ready_by, deleted_by)
         SELECT * FROM ins
         UNION ALL
         SELECT notebook_id, cloud_project_id, state, created_by, ready_by, deleted_by
           FROM notebooks WHERE company_id = $1 AND notebook_id = $2
         LIMIT 1",
    )
    .bind(company)
    .bind(id)
    .bind(job_id)
    .bind(project)
    .bind(by)
    .fetch_one(&mut *tx)
    .await
    .map_err(err("recording a notebook"))?;
    tx.commit().await.map_err(err("recording a notebook"))?;
    Ok(row)
}

/// Moves a notebook that was being created to another project (its first one was full).
pub async fn move_creating_notebook(
    pool: &PgPool,
    company: Uuid,
    id: &str,
    project: &str,
) -> Result<(), Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "UPDATE notebooks SET cloud_project_id = $3
          WHERE company_id = $1 AND notebook_id = $2 AND state = 'creating'",
    )
    .bind(company)
    .bind(id)
    .bind(project)
    .execute(&mut *tx)
    .await
    .map_err(err("moving a notebook being created"))?;
    tx.commit()
        .await
        .map_err(err("moving a notebook being created"))
}

/// Marks the notebook created at the provider, by the step of record `by`; the notebook as it
/// is then (a notebook ready before keeps its `ready_by`).
pub async fn notebook_ready(
    pool: &PgPool,
    company: Uuid,
    id: &str,
    by: Uuid,
) -> Result<Notebook, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    let row = sqlx::query_as(
        "UPDATE notebooks SET state = 'ready',
                              ready_by = CASE WHEN state = 'creating' THEN $3 ELSE ready_by END
          WHERE company_id = $1 AND notebook_id = $2 AND state IN ('creating', 'ready')
         RETURNING notebook_id, cloud_project_id, state, created_by, ready_by, deleted_by",
    )
    .bind(company)
    .bind(id)
    .bind(by)
    .fetch_one(&mut *tx)
    .await
    .map_err(err("marking a notebook ready"))?;
    tx.commit().await.map_err(err("marking a notebook ready"))?;
    Ok(row)
}

/// Stores an uploaded document (pending); the stored one if its id was uploaded before.
pub async fn add_document(
    pool: &PgPool,
    company: Uuid,
    added: &DocumentAdded,
) -> Result<Document, Error> {
    let err = |step| pg(company, step);
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "INSERT INTO job_documents (company_id, document_id, job_id, title, kind, file_name, pages,
                                    added_event_id, added_at, sync_state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')
         ON CONFLICT (company_id, document_id) DO NOTHING",
    )
    .bind(company)
    .bind(&added.document_id)
    .bind(&added.job_id)
    .bind(if added.title.is_empty() {
        &added.file_name
    } else {
        &added.title
    })
    .bind(added.kind.as_str())
    .bind(&added.file_name)
    .bind(&added.pages)
    .bind(added.meta.event_id)
    .bind(added.meta.occurred_at)
    .execute(&mut *tx)
    .await
    .map_err(err("storing a document"))?;
    let row = select_document(&mut tx, company, &added.document_id)
        .await?
        .expect("inserted or there");
    tx.commit().await.map_err(err("storing a document"))?;
    Ok(row)
}

async fn select_document(
    tx: &mut Transaction<'static, Postgres>,
    company: Uuid,
    id: &str,
) -> Result<Option<Document>, Error> {
    sqlx::query_as(
        "SELECT document_id, job_id, title, pages, added_event_id, sync_state, notebook_id,
                attempts, state_by
           FROM job_documents WHERE company_id = $1 AND document_id = $2",
    )
    .bind(company)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(pg(company, "reading a document"))
}

/// The document, if stored.
pub async fn document(pool: &PgPool, company: Uuid, id: &str) -> Result<Option<Document>, Error> {
    let mut tx = begin(pool, company).await?;
    let row = select_document(&mut tx, company, id).await?;
    tx.commit()
        .await
        .map_err(pg(company, "reading a document"))?;
    Ok(row)
}

/// The job, if known.
pub async fn job(pool: &PgPool, company: Uuid, job_id: &str) -> Result<Option<Job>, Error> {
    let mut tx = begin(pool, company).await?;
    let row = select_job(&mut tx, company, job_id).await?;
    tx.commit().await.map_err(pg(company, "reading a job"))?;
    Ok(row)
}

/// What an attempt to sync a document came to.
pub enum SyncState<'a> {
    Synced { notebook_id: &'a str },
    Pending { error: &'a str },
    Failed { error: &'a str },
}

/// Records the outcome of sync attempt `attempt` of the document, by the step of record `by`.
pub async fn set_sync_state(
    pool: &PgPool,
    company: Uuid,
    document_id: &str,
    attempt: i32,
    state: SyncState<'_>,
    by: Uuid,
) -> Result<(), Error> {
    let err = |step| pg(company, step);
    let (name, notebook, error) = match state {
        SyncState::Synced { notebook_id } => ("synced", Some(notebook_id), None),
        SyncState::Pending { error } => ("pending", None, Some(error)),
        SyncState::Failed { error } => ("failed", None, Some(error)),
    };
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "UPDATE job_documents
            SET sync_state = $3, notebook_id = coalesce($4, notebook_id), attempts = $5,
                last_error = $6, state_by = $7,
                synced_at = CASE WHEN $3 = 'synced' THEN now() ELSE synced_at END
          WHERE company_id = $1 AND document_id = $2",
    )
    .bind(company)
    .bind(document_id)
    .bind(name)
    .bind(notebook)
    .bind(attempt)
    .bind(error)
    .bind(by)
    .execute(&mut *tx)
    .await
    .map_err(err("recording a document's sync"))?;
    tx.commit()
        .await
        .map_err(err("recording a document's sync"))
}

/// Stores the document's chunks and their embeddings (a chunk stored before is kept).
pub async fn store_embeddings(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    document_id: &str,
    chunks: &[String],
    vectors: &[Vec<f32>],
) -> Result<(), Error> {
    let err = |step| pg(company, step);
    let indexes: Vec<i32> = (0..chunks.len() as i32).collect();
    let vectors: Vec<String> = vectors.iter().map(|v| vector_literal(v)).collect();
    let mut tx = begin(pool, company).await?;
    sqlx::query(
        "INSERT INTO ai_embeddings (company_id, document_id, chunk_index, job_id, content, embedding)
         SELECT $1, $2, t.i, $3, t.c, t.e::vector
           FROM unnest($4::int[], $5::text[], $6::text[]) AS t(i, c, e)
         ON CONFLICT (company_id, document_id, chunk_index) DO NOTHING",
    )
    .bind(company)
    .bind(document_id)
    .bind(job_id)
    .bind(&indexes)
    .bind(chunks)
    .bind(&vectors)
    .execute(&mut *tx)
    .await
    .map_err(err("storing a document's embeddings"))?;
    tx.commit()
        .await
        .map_err(err("storing a document's embeddings"))
}

/// pgvector's text form of a vector: `[0.1,0.2,…]`.
pub fn vector_literal(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&x.to_string());
    }
    s.push(']');
    s
}
