//! Errors of this crate: only invalid options can fail.

/// Why a [`crate::Breakers`] registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option is out of range; `scope` is `default` or `providers.<name>`.
    #[error("invalid circuit breaker options in {scope}: {field} {reason}")]
    InvalidOptions {
        /// Which options block: `default` or `providers.<name>`.
        scope: String,
        /// The offending field, as spelt in the configuration.
        field: &'static str,
        /// What the field must be.
        reason: &'static str,
    },
}
