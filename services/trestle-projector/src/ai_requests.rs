//! The ai_requests projection: `ai-requests` + `ai-outcomes` → one row per request in its
//! company's shard (`ai_requests`, migrations/shard/0007): queued at submission, then the
//! outcome (completed, failed, throttled, served from cache) with the answer, its provider and
//! model, degraded/limited flags, answer path, cited documents, usage and cost; the last
//! reroute; `AiRequestsExpired` (a retention timer) deletes a company's requests submitted
//! before its instant.
//!
//! The fold does not depend on arrival order, within a batch or across batches and topics: a
//! submission fills only its own columns (the first seen), an outcome applies only if it is
//! newer (occurred_at, then event_id) than the one applied, so an outcome read before its
//! submission lands the same row. The row reaching a final status is announced by the table's
//! trigger (`pg_notify('ai_requests', …)`), delivered at this transaction's commit.
//!
//! With `[shard] index` it keeps the companies whose latest provisioning (read from `tenants`
//! too, `ai_request_routing`) names its shard, and those not provisioned anywhere it knows
//! yet; a newer provisioning naming another shard deletes the company's rows here.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::Event;
use uuid::Uuid;

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};

/// `ai-requests` + `ai-outcomes` (+ `tenants` for a shard) → `ai_requests` (shard database).
#[derive(Debug, Clone, Copy, Default)]
pub struct AiRequestsProjection {
    /// The shard whose companies it keeps; `None`: every company's (one database).
    shard: Option<i32>,
}

impl AiRequestsProjection {
    pub fn new(shard: Option<i32>) -> Self {
        AiRequestsProjection { shard }
    }
}

impl Projection for AiRequestsProjection {
    fn name(&self) -> &'static str {
        "ai_requests"
    }

    fn topics(&self) -> &'static [&'static str] {
        match self.shard {
            Some(_) => &["tenants", "ai-requests", "ai-outcomes"],
            None => &["ai-requests", "ai-outcomes"],
        }
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        let event = decode_keyed(record)?;
        match event {
            Event::TenantProvisioned(_) if self.shard.is_some() => Ok(Some(event)),
            // Another event of the tenants topic (decode_keyed checked the topic).
            Event::CompanyRegistered(_)
            | Event::TenantProvisioned(_)
            | Event::CompanyReady(_)
            | Event::TenantMoveStarted(_)
            | Event::TenantMoved(_) => Ok(None),
            _ => Ok(Some(event)),
        }
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let mut provisioned: HashMap<Uuid, (i32, DateTime<Utc>)> = HashMap::new();
            let mut per_company: BTreeMap<Uuid, Vec<Event>> = BTreeMap::new();
            for s in events {
                match s.event {
                    Event::TenantProvisioned(p) => {
                        let at = p.meta.occurred_at;
                        let e = (provisioned.entry(p.meta.company_id))
                            .or_insert((p.database_shard, at));
                        if at >= e.1 {
                            *e = (p.database_shard, at);
                        }
                    }
                    event => per_company
                        .entry(event.meta().company_id)
                        .or_default()
                        .push(event),
                }
            }
            if let Some(shard) = self.shard {
                route(conn, shard, &provisioned).await?;
                let elsewhere = routed_elsewhere(conn, shard, per_company.keys()).await?;
                per_company.retain(|company, _| !elsewhere.contains(company));
            }
            let mut duplicates = 0;
            for (company, events) in per_company {
                trestle_store::set_tenant(conn, company)
                    .await
                    .map_err(store_error)?;
                for event in &events {
                    duplicates += usize::from(!fold(conn, event).await?);
                }
            }
            Ok(Applied { duplicates })
        })
    }
}

fn store_error(error: trestle_store::Error) -> sqlx::Error {
    match error {
        trestle_store::Error::Query(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Folds a batch's provisionings into `ai_request_routing` (newest by occurred_at wins) and
/// deletes the rows here of every company a newer provisioning moved to another shard.
async fn route(
    conn: &mut PgConnection,
    shard: i32,
    provisioned: &HashMap<Uuid, (i32, DateTime<Utc>)>,
) -> Result<(), sqlx::Error> {
    if provisioned.is_empty() {
        return Ok(());
    }
    let companies: Vec<Uuid> = provisioned.keys().copied().collect();
    let shards: Vec<i32> = companies.iter().map(|c| provisioned[c].0).collect();
    let at: Vec<DateTime<Utc>> = companies.iter().map(|c| provisioned[c].1).collect();
    let moved: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO ai_request_routing AS r (company_id, database_shard, provisioned_at)
         SELECT * FROM unnest($1::uuid[], $2::int4[], $3::timestamptz[])
         ON CONFLICT (company_id) DO UPDATE SET
             database_shard = EXCLUDED.database_shard, provisioned_at = EXCLUDED.provisioned_at
           WHERE EXCLUDED.provisioned_at >= r.provisioned_at
         RETURNING company_id",
    )
    .bind(&companies)
    .bind(&shards)
    .bind(&at)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter(|c| provisioned[c].0 != shard)
    .collect();
    for company in moved {
        trestle_store::set_tenant(conn, company)
            .await
            .map_err(store_error)?;
        sqlx::query("DELETE FROM ai_requests WHERE company_id = $1")
            .bind(company)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The companies among `companies` whose latest provisioning names another shard.
async fn routed_elsewhere(
    conn: &mut PgConnection,
    shard: i32,
    companies: impl Iterator<Item = &Uuid>,
) -> Result<std::collections::HashSet<Uuid>, sqlx::Error> {
    let companies: Vec<Uuid> = companies.copied().collect();
    if companies.is_empty() {
        return Ok(Default::default());
    }
    let elsewhere: Vec<Uuid> = sqlx::query_scalar(
        "SELECT company_id FROM ai_request_routing
          WHERE company_id = ANY($1) AND database_shard <> $2",
    )
    .bind(&companies)
    .bind(shard)
    .fetch_all(&mut *conn)
    .await?;
    Ok(elsewhere.into_iter().collect())
}

/// Folds one event of the tenant set on `conn`; `false`: it changed nothing (a duplicate, or
/// an outcome older than the one applied).
async fn fold(conn: &mut PgConnection, event: &Event) -> Result<bool, sqlx::Error> {
    let company = event.meta().company_id;
    let done = match event {
        Event::AiRequestSubmitted(s) => sqlx::query(
            "INSERT INTO ai_requests AS r (company_id, request_id, status, kind, user_id, job_id,
                                          submitted_at, submitted_event_id)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7)
             ON CONFLICT (company_id, request_id) DO UPDATE SET
                 kind = EXCLUDED.kind, user_id = EXCLUDED.user_id, job_id = EXCLUDED.job_id,
                 submitted_at = EXCLUDED.submitted_at,
                 submitted_event_id = EXCLUDED.submitted_event_id, updated_at = now()
               WHERE r.submitted_event_id IS NULL",
        )
        .bind(company)
        .bind(s.request_id)
        .bind(s.kind.as_str())
        .bind(&s.user_id)
        .bind(&s.job_id)
        .bind(s.meta.occurred_at)
        .bind(s.meta.event_id)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        Event::AiRequestRerouted(r) => sqlx::query(
            "INSERT INTO ai_requests (company_id, request_id, status, rerouted_to, reroute_reason)
             VALUES ($1, $2, 'queued', $3, $4)
             ON CONFLICT (company_id, request_id) DO UPDATE SET
                 rerouted_to = EXCLUDED.rerouted_to, reroute_reason = EXCLUDED.reroute_reason,
                 updated_at = now()",
        )
        .bind(company)
        .bind(r.request_id)
        .bind(&r.to_cloud_project_id)
        .bind(r.reason.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        Event::AiRequestsExpired(x) => {
            sqlx::query(
                "DELETE FROM ai_requests
                  WHERE company_id = $1 AND COALESCE(submitted_at, ended_at) < $2",
            )
            .bind(company)
            .bind(x.submitted_before)
            .execute(&mut *conn)
            .await?;
            1
        }
        other => match Outcome::of(other) {
            Some(outcome) => outcome.upsert(conn, company).await?,
            None => 0,
        },
    };
    Ok(done > 0)
}

/// An outcome as the row's outcome columns.
#[derive(Default)]
struct Outcome {
    request_id: Uuid,
    status: &'static str,
    event_id: Uuid,
    ended_at: DateTime<Utc>,
    answer: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    cloud_project_id: Option<String>,
    degraded: Option<bool>,
    limited_notice: Option<bool>,
    answer_path: Option<&'static str>,
    cited_document_ids: Vec<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cost_micro_usd: Option<i64>,
    latency_ms: Option<i64>,
    cached_at: Option<DateTime<Utc>>,
    reason: Option<String>,
    detail: Option<String>,
    retryable: Option<bool>,
    retry_after_ms: Option<i64>,
}

impl Outcome {
    fn of(event: &Event) -> Option<Outcome> {
        let base = |request_id, status| Outcome {
            request_id,
            status,
            event_id: event.meta().event_id,
            ended_at: event.meta().occurred_at,
            ..Outcome::default()
        };
        Some(match event {
            Event::AiRequestCompleted(c) => Outcome {
                answer: Some(c.answer.clone()),
                provider: Some(c.provider.clone()),
                model: Some(c.model.clone()),
                cloud_project_id: c.cloud_project_id.clone(),
                degraded: Some(c.degraded),
                answer_path: Some(c.answer_path.as_str()),
                cited_document_ids: c.cited_document_ids.clone(),
                input_tokens: Some(c.input_tokens),
                output_tokens: Some(c.output_tokens),
                cost_micro_usd: Some(c.cost_micro_usd),
                latency_ms: Some(c.latency_ms),
                ..base(c.request_id, "completed")
            },
            Event::AiRequestServedFromCache(c) => Outcome {
                answer: Some(c.answer.clone()),
                limited_notice: Some(c.limited_notice),
                cached_at: Some(c.cached_at),
                cost_micro_usd: Some(0),
                ..base(c.request_id, "served_from_cache")
            },
            Event::AiRequestFailed(f) => Outcome {
                reason: Some(f.reason.clone()),
                detail: Some(f.providers_tried.join(", ")),
                retryable: Some(f.retryable),
                ..base(f.request_id, "failed")
            },
            Event::AiRequestThrottled(t) => Outcome {
                reason: Some(t.reason.as_str().to_owned()),
                detail: Some(t.limit.clone()),
                retry_after_ms: t.retry_after_ms,
                ..base(t.request_id, "throttled")
            },
            _ => return None,
        })
    }

    /// Writes the outcome unless a newer one is applied; the rows changed (0 or 1).
    async fn upsert(&self, conn: &mut PgConnection, company: Uuid) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO ai_requests AS r (company_id, request_id, status, outcome_event_id,
                 ended_at, answer, provider, model, cloud_project_id, degraded, limited_notice,
                 answer_path, cited_document_ids, input_tokens, output_tokens, cost_micro_usd,
                 latency_ms, cached_at, reason, detail, retryable, retry_after_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, $19, $20, $21, $22)
             ON CONFLICT (company_id, request_id) DO UPDATE SET
                 status = EXCLUDED.status, outcome_event_id = EXCLUDED.outcome_event_id,
                 ended_at = EXCLUDED.ended_at, answer = EXCLUDED.answer,
                 provider = EXCLUDED.provider, model = EXCLUDED.model,
                 cloud_project_id = EXCLUDED.cloud_project_id, degraded = EXCLUDED.degraded,
                 limited_notice = EXCLUDED.limited_notice, answer_path = EXCLUDED.answer_path,
                 cited_document_ids = EXCLUDED.cited_document_ids,
                 input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
                 cost_micro_usd = EXCLUDED.cost_micro_usd, latency_ms = EXCLUDED.latency_ms,
                 cached_at = EXCLUDED.cached_at, reason = EXCLUDED.reason,
                 detail = EXCLUDED.detail, retryable = EXCLUDED.retryable,
                 retry_after_ms = EXCLUDED.retry_after_ms, updated_at = now()
               WHERE r.outcome_event_id IS NULL
                  OR (r.ended_at, r.outcome_event_id) < (EXCLUDED.ended_at, EXCLUDED.outcome_event_id)",
        )
        .bind(company)
        .bind(self.request_id)
        .bind(self.status)
        .bind(self.event_id)
        .bind(self.ended_at)
        .bind(&self.answer)
        .bind(&self.provider)
        .bind(&self.model)
        .bind(&self.cloud_project_id)
        .bind(self.degraded)
        .bind(self.limited_notice)
        .bind(self.answer_path)
        .bind(&self.cited_document_ids)
        .bind(self.input_tokens)
        .bind(self.output_tokens)
        .bind(self.cost_micro_usd)
        .bind(self.latency_ms)
        .bind(self.cached_at)
        .bind(&self.reason)
        .bind(&self.detail)
        .bind(self.retryable)
        .bind(self.retry_after_ms)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected())
    }
}
