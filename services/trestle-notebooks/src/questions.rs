//! What a question about a job is answered from, read from the workflow's state in the
//! company's shard: the job's tier and notebook (with the notebook's cloud project and state),
//! the job's documents synced into a warm pool's notebook, and the job's document chunks
//! nearest to a question (pgvector). The engine reads these to route `notebook_query`; they
//! live here, next to the writes, so the one crate that owns these tables knows their SQL.
//! Every read is one transaction as the company (row-level security) and names the company
//! and job besides, so it never sees another company's or another job's rows.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{pg, Error};
use crate::ledger::vector_literal;

/// A job's state as a question about it needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// `hot`, `warm`, `cold` or `recreating`.
    pub tier: String,
    /// The notebook that answers for it (its own, or its warm pool's), if any.
    pub notebook: Option<NotebookRef>,
    /// Warm jobs only: the job's documents synced into that notebook (their ids are the
    /// notebook's source ids), in id order. Empty for the other tiers: a job's own notebook
    /// holds its documents alone.
    pub synced_sources: Vec<String>,
    /// Whether any chunk of the job's documents is embedded (RAG has something to find).
    pub has_chunks: bool,
}

/// A notebook a job's questions can go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotebookRef {
    pub notebook_id: String,
    /// The cloud project it lives in: a query can go nowhere else.
    pub cloud_project_id: String,
    /// `creating`, `ready` or `deleted`.
    pub state: String,
}

/// One chunk of a job's document, with its cosine distance to the question.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub document_id: String,
    pub chunk_index: i32,
    pub content: String,
    pub distance: f64,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    tier: String,
    notebook_id: Option<String>,
    cloud_project_id: Option<String>,
    state: Option<String>,
    has_chunks: bool,
}

/// The job's state, if the company has the job.
pub async fn job_state(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
) -> Result<Option<JobState>, Error> {
    let err = |step| pg(company, step);
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let row: Option<JobRow> = sqlx::query_as(
        "SELECT j.tier, j.notebook_id, n.cloud_project_id, n.state,
                EXISTS (SELECT 1 FROM ai_embeddings e
                         WHERE e.company_id = j.company_id AND e.job_id = j.job_id) AS has_chunks
           FROM jobs j
           LEFT JOIN notebooks n
             ON n.company_id = j.company_id AND n.notebook_id = j.notebook_id
          WHERE j.company_id = $1 AND j.job_id = $2",
    )
    .bind(company)
    .bind(job_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(err("reading a job's notebook"))?;
    let Some(row) = row else {
        tx.commit().await.map_err(err("reading a job's notebook"))?;
        return Ok(None);
    };
    let notebook = match (row.notebook_id, row.cloud_project_id, row.state) {
        (Some(notebook_id), Some(cloud_project_id), Some(state)) => Some(NotebookRef {
            notebook_id,
            cloud_project_id,
            state,
        }),
        _ => None,
    };
    let synced_sources = match (&notebook, row.tier.as_str()) {
        (Some(notebook), "warm") => sqlx::query_scalar(
            "SELECT document_id FROM job_documents
              WHERE company_id = $1 AND job_id = $2 AND notebook_id = $3
                AND sync_state = 'synced'
              ORDER BY document_id",
        )
        .bind(company)
        .bind(job_id)
        .bind(&notebook.notebook_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(err("reading a job's documents in its notebook"))?,
        _ => Vec::new(),
    };
    tx.commit().await.map_err(err("reading a job's notebook"))?;
    Ok(Some(JobState {
        tier: row.tier,
        notebook,
        synced_sources,
        has_chunks: row.has_chunks,
    }))
}

/// The `k` chunks of the job's documents nearest to `embedding` (cosine distance), nearest
/// first. An exact scan of the job's chunks (the btree index on company and job; see the
/// migration).
pub async fn nearest_chunks(
    pool: &PgPool,
    company: Uuid,
    job_id: &str,
    embedding: &[f32],
    k: u32,
) -> Result<Vec<Chunk>, Error> {
    let err = |step| pg(company, step);
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let rows: Vec<(String, i32, String, f64)> = sqlx::query_as(
        "SELECT document_id, chunk_index, content, embedding <=> $3::vector AS distance
           FROM ai_embeddings
          WHERE company_id = $1 AND job_id = $2
          ORDER BY embedding <=> $3::vector, document_id, chunk_index
          LIMIT $4",
    )
    .bind(company)
    .bind(job_id)
    .bind(vector_literal(embedding))
    .bind(i64::from(k))
    .fetch_all(&mut *tx)
    .await
    .map_err(err("reading a job's nearest chunks"))?;
    tx.commit()
        .await
        .map_err(err("reading a job's nearest chunks"))?;
    Ok(rows
        .into_iter()
        .map(|(document_id, chunk_index, content, distance)| Chunk {
            document_id,
            chunk_index,
            content,
            distance,
        })
        .collect())
}
