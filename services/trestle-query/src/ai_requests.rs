//! A company's AI requests and their answers (`ai_requests`, shard database; written by the
//! ai_requests projection), read as that tenant so row-level security applies: one request
//! ([`get`]), the latest ones ([`recent`]), and [`Waiter`], which waits for a request's answer
//! for an API's long poll.
//!
//! **Why LISTEN/NOTIFY and not polling.** The projection's table announces every row reaching
//! a final status on channel [`CHANNEL`], delivered when the projector's transaction commits.
//! A [`Waiter`] holds one listening connection per shard for the whole process and fans the
//! announcements out to the requests waiting on them, so a waiting request costs one read when
//! it starts, one per announcement of its own id, and one at its deadline — nothing while it
//! waits, however many wait. An announcement lost while the listening connection reconnects
//! wakes every waiter to read once, so none waits past an answer for longer than that gap.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::error::{reading, Error};

/// The channel the `ai_requests` table's trigger notifies (migrations/shard/0007), payload
/// `<company_id>/<request_id>`.
pub const CHANNEL: &str = "ai_requests";

/// One request as the projection holds it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AiRequest {
    pub company_id: Uuid,
    pub request_id: Uuid,
    /// `queued`, `completed`, `failed`, `throttled` or `served_from_cache`.
    pub status: String,
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub job_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub answer: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub cloud_project_id: Option<String>,
    /// A fallback or cheaper step answered.
    pub degraded: Option<bool>,
    /// Served from cache with the "AI temporarily limited" notice.
    pub limited_notice: Option<bool>,
    /// `chat`, `job_notebook`, `warm_notebook`, `rag`, `knowledge_base`.
    pub answer_path: Option<String>,
    pub cited_document_ids: Vec<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// Our cost, millionths of a USD.
    pub cost_micro_usd: Option<i64>,
    pub latency_ms: Option<i64>,
    pub cached_at: Option<DateTime<Utc>>,
    /// Failed: the cause; throttled: the limit's kind (`rate_limit`, `cost_limit`, ...).
    pub reason: Option<String>,
    /// Throttled: the limit for people; failed: the providers tried.
    pub detail: Option<String>,
    pub retryable: Option<bool>,
    pub retry_after_ms: Option<i64>,
    pub rerouted_to: Option<String>,
    pub reroute_reason: Option<String>,
}

impl AiRequest {
    /// Whether the request has its outcome (anything but `queued`).
    pub fn is_final(&self) -> bool {
        self.status != "queued"
    }
}

const COLUMNS: &str = "company_id, request_id, status, kind, user_id, job_id, submitted_at,
    ended_at, answer, provider, model, cloud_project_id, degraded, limited_notice, answer_path,
    cited_document_ids, input_tokens, output_tokens, cost_micro_usd, latency_ms, cached_at,
    reason, detail, retryable, retry_after_ms, rerouted_to, reroute_reason";

/// Request `request_id` of `company` in the shard database `pool`, if the projection has it.
pub async fn get(
    pool: &PgPool,
    company: Uuid,
    request_id: Uuid,
) -> Result<Option<AiRequest>, Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let row: Option<AiRequest> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM ai_requests WHERE company_id = $1 AND request_id = $2"
    ))
    .bind(company)
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(reading("ai_requests"))?;
    tx.commit().await.map_err(reading("ai_requests"))?;
    Ok(row)
}

/// `company`'s requests submitted (or, without a submission seen, ended) at or after `since`,
/// newest first, at most `limit`.
pub async fn recent(
    pool: &PgPool,
    company: Uuid,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<AiRequest>, Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let rows: Vec<AiRequest> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM ai_requests
          WHERE company_id = $1 AND COALESCE(submitted_at, ended_at) >= $2
          ORDER BY COALESCE(submitted_at, ended_at) DESC, request_id DESC
          LIMIT $3"
    ))
    .bind(company)
    .bind(since)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(reading("ai_requests"))?;
    tx.commit().await.map_err(reading("ai_requests"))?;
    Ok(rows)
}

/// What the listening connection tells the waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// This request reached a final status.
    Request(Uuid, Uuid),
    /// Announcements may have been lost (the connection dropped): every waiter reads again.
    All,
}

/// Waits for requests' answers in one shard database; cheap to share (`Arc`), one listening
/// connection for the process. Dropping it stops the listener.
pub struct Waiter {
    pool: PgPool,
    wakes: broadcast::Sender<Wake>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl Waiter {
    /// Listens on [`CHANNEL`] in the shard database `pool` (one connection of its own).
    pub async fn start(pool: PgPool) -> Result<Waiter, Error> {
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(reading("ai_requests notifications"))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(reading("ai_requests notifications"))?;
        let (wakes, _) = broadcast::channel(1024);
        let sender = wakes.clone();
        let listener = tokio::spawn(listen(listener, sender));
        Ok(Waiter {
            pool,
            wakes,
            listener,
        })
    }

    /// The request once it has its outcome, or as it is when `timeout` passes (`None`: not
    /// projected yet).
    pub async fn wait(
        &self,
        company: Uuid,
        request_id: Uuid,
        timeout: Duration,
    ) -> Result<Option<AiRequest>, Error> {
        // Subscribed before the first read, so an answer committed in between still wakes it.
        let mut wakes = self.wakes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let row = get(&self.pool, company, request_id).await?;
            if row.as_ref().is_some_and(AiRequest::is_final) {
                return Ok(row);
            }
            loop {
                match tokio::time::timeout_at(deadline, wakes.recv()).await {
                    Err(_elapsed) => return get(&self.pool, company, request_id).await,
                    Ok(Ok(Wake::Request(c, r))) if c == company && r == request_id => break,
                    Ok(Ok(Wake::Request(..))) => continue,
                    Ok(Ok(Wake::All) | Err(broadcast::error::RecvError::Lagged(_))) => break,
                    Ok(Err(broadcast::error::RecvError::Closed)) => {
                        return get(&self.pool, company, request_id).await
                    }
                }
            }
        }
    }
}

/// Forwards notifications to the waiters until the waiter is dropped; a lost connection (sqlx
/// reconnects on the next `recv`) wakes them all, since announcements may have been missed.
async fn listen(mut listener: PgListener, wakes: broadcast::Sender<Wake>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match listener.recv().await {
            Ok(notification) => {
                backoff = Duration::from_millis(50);
                if let Some(wake) = parse(notification.payload()) {
                    let _ = wakes.send(wake);
                }
            }
            Err(error) => {
                tracing::warn!(message = "Lost the ai_requests notification connection; reconnecting.", %error);
                let _ = wakes.send(Wake::All);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// `<company_id>/<request_id>` → the wake for that request.
fn parse(payload: &str) -> Option<Wake> {
    let (company, request) = payload.split_once('/')?;
    Some(Wake::Request(company.parse().ok()?, request.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_names_the_company_and_the_request() {
        let (c, r) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(parse(&format!("{c}/{r}")), Some(Wake::Request(c, r)));
        assert_eq!(parse("nonsense"), None);
        assert_eq!(parse(&format!("{c}/x")), None);
    }
}
