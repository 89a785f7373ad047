//! Errors of the notebook workflow, each naming the company, job, document or setting concerned.

use uuid::Uuid;

/// Why the workflow could not start, or a step could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Workflow(#[from] trestle_workflow::Error),
    #[error("a database: {0}")]
    Store(#[from] trestle_store::Error),
    #[error("tenant routing: {0}")]
    Query(#[from] trestle_query::Error),
    #[error("company {company}, {step}: {source}")]
    Postgres {
        company: Uuid,
        step: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("company {company} is not provisioned yet (no database shard in tenant_routing)")]
    NotProvisioned { company: Uuid },
    #[error("company {company} is provisioned to shard {shard}, but this workflow has {shards} shard databases configured ([[shards]])")]
    UnknownShard {
        company: Uuid,
        shard: i32,
        shards: usize,
    },
    #[error("company {company}: no active cloud project of region {region} has room for a notebook (every one is full or in maintenance)")]
    NoCapacity { company: Uuid, region: String },
    #[error("the notebook service: {0}")]
    Service(#[from] crate::client::CallError),
    #[error("company {company}: encoding an event to schedule: {source}")]
    Encode {
        company: Uuid,
        #[source]
        source: trestle_events::Error,
    },
    #[error("invalid notebooks configuration: {field}: {reason}")]
    Config { field: &'static str, reason: String },
}

/// The `Error::Postgres` of `step` for `company`.
pub(crate) fn pg(company: Uuid, step: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Postgres {
        company,
        step,
        source,
    }
}
