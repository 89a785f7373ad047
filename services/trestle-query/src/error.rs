//! Why a read failed, naming what was being read.

/// A read of a projected table failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] trestle_store::Error),
    #[error("reading {what} failed: {source}")]
    Postgres {
        /// The table or view read.
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("shard_health_minutes: {0}")]
    SketchMismatch(#[from] crate::health::SketchMismatch),
    #[error("shard_health_minutes (shard {shard}, minute {minute}) holds a bad latency sketch: {reason}")]
    Sketch {
        shard: i32,
        minute: chrono::DateTime<chrono::Utc>,
        reason: String,
    },
}

/// Adds `what` to a query's error.
pub(crate) fn reading(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Postgres { what, source }
}
