//! Errors of the onboarding workflow, each naming the step or setting it concerns.

/// Why onboarding could not start or a placement failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Workflow(#[from] trestle_workflow::Error),
    #[error("the control database: {0}")]
    Store(#[from] trestle_store::Error),
    #[error("placement ledger, step `{step}`: {source}")]
    Postgres {
        step: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("invalid onboarding configuration: {field}: {reason}")]
    Config { field: &'static str, reason: String },
}
