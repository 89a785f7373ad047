//! One answer per request_id: before a request is served, its ai-requests record claims the
//! request_id in the company's shard (`ai_request_claims`, migrations/shard/0008). The first
//! record to claim it owns it and is served; a later record with the same request_id (an
//! upstream retry that reached the log), even one in flight at the same moment, finds the
//! claim another record's and is passed over: no rate-limit check, reservation, provider call,
//! outcome or usage. The owner redone after a crash or a rebalance finds its own claim
//! (the record's topic, partition and offset) and is served again — provider calls stay
//! at-least-once, its outputs exactly once with its commit.
//!
//! A request that ended throttled or failed (no answer) gives its claim back, so a retry with
//! the same request_id is served; a completed or cached answer keeps it for good.

use sqlx::PgPool;
use trestle_events::{AiRequestSubmitted, Event};
use uuid::Uuid;

/// Where a request's record is in the log: the claim's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This record owns the request_id (first to claim it, or redone): serve it.
    Owned,
    /// Another record owns it: pass this one over.
    Duplicate(Owner),
    /// No shard to record it in (no `shards` configured, or a company without one): served
    /// without the check.
    Unchecked,
}

/// The claims, in each company's shard.
#[derive(Clone)]
pub(crate) struct Claims {
    /// By shard number; empty: claims are not checked.
    shards: Vec<PgPool>,
}

impl Claims {
    pub(crate) fn new(shards: Vec<PgPool>) -> Self {
        Claims { shards }
    }

    fn pool(&self, shard: Option<i32>) -> Option<&PgPool> {
        self.shards.get(usize::try_from(shard?).ok()?)
    }

    /// Claims `submitted.request_id` for `owner` in shard `shard`; `Err` names what failed.
    pub(crate) async fn claim(
        &self,
        shard: Option<i32>,
        submitted: &AiRequestSubmitted,
        owner: &Owner,
    ) -> Result<Claim, String> {
        let Some(pool) = self.pool(shard) else {
            trestle_telemetry::request_claim("unchecked");
            return Ok(Claim::Unchecked);
        };
        let company = submitted.meta.company_id;
        let found = claim_in(pool, company, submitted.request_id, owner)
            .await
            .map_err(|error| {
                trestle_telemetry::request_claim("error");
                format!(
                    "could not check whether request {} was answered before (shard {}): {error}",
                    submitted.request_id,
                    shard.unwrap_or_default()
                )
            })?;
        if &found == owner {
            trestle_telemetry::request_claim("owned");
            Ok(Claim::Owned)
        } else {
            trestle_telemetry::request_claim("duplicate");
            Ok(Claim::Duplicate(found))
        }
    }

    /// Gives `owner`'s claim back when the request's events hold no answer (throttled or
    /// failed), so a retry with the same request_id is served. A claim that cannot be given
    /// back (the shard failed) stays: a retry is then passed over as a duplicate.
    pub(crate) async fn settle(
        &self,
        shard: Option<i32>,
        submitted: &AiRequestSubmitted,
        owner: &Owner,
        events: &[Event],
    ) {
        let answered = events.iter().any(|e| {
            matches!(
                e,
                Event::AiRequestCompleted(_) | Event::AiRequestServedFromCache(_)
            )
        });
        if !answered {
            self.release(shard, submitted, owner).await;
        }
    }

    /// Gives `owner`'s claim back (only its own); a failure is logged and the claim stays.
    pub(crate) async fn release(
        &self,
        shard: Option<i32>,
        submitted: &AiRequestSubmitted,
        owner: &Owner,
    ) {
        let Some(pool) = self.pool(shard) else {
            return;
        };
        let company = submitted.meta.company_id;
        if let Err(error) = release_in(pool, company, submitted.request_id, owner).await {
            tracing::warn!(
                message = "Could not give back the claim of a request that was not answered; a retry with its request_id will be passed over.",
                request_id = %submitted.request_id, %error,
            );
        }
    }
}

/// Inserts the claim unless one exists, then reads the owner (a second statement, so it sees a
/// claim that a concurrent transaction committed while the insert waited on it).
async fn claim_in(
    pool: &PgPool,
    company: Uuid,
    request: Uuid,
    owner: &Owner,
) -> Result<Owner, trestle_store::Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    sqlx::query(
        "INSERT INTO ai_request_claims
             (company_id, request_id, source_topic, source_partition, source_offset)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (company_id, request_id) DO NOTHING",
    )
    .bind(company)
    .bind(request)
    .bind(&owner.topic)
    .bind(owner.partition)
    .bind(owner.offset)
    .execute(&mut *tx)
    .await?;
    let (topic, partition, offset): (String, i32, i64) = sqlx::query_as(
        "SELECT source_topic, source_partition, source_offset FROM ai_request_claims
          WHERE company_id = $1 AND request_id = $2",
    )
    .bind(company)
    .bind(request)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Owner {
        topic,
        partition,
        offset,
    })
}

/// Deletes `owner`'s claim (only its own).
async fn release_in(
    pool: &PgPool,
    company: Uuid,
    request: Uuid,
    owner: &Owner,
) -> Result<(), trestle_store::Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    sqlx::query(
        "DELETE FROM ai_request_claims
          WHERE company_id = $1 AND request_id = $2
            AND source_topic = $3 AND source_partition = $4 AND source_offset = $5",
    )
    .bind(company)
    .bind(request)
    .bind(&owner.topic)
    .bind(owner.partition)
    .bind(owner.offset)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
