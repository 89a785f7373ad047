//! [`Error`]: why options were refused or commit metadata could not be read.

/// An error of this crate. Scheduling itself never fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An option has a value the scheduler cannot work with.
    #[error("invalid scheduler option {field}: {reason}")]
    InvalidOption {
        /// The option's field name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Commit metadata is not a finished-offsets encoding this build can read. Restoring with no
    /// finished offsets is safe (those records are redone).
    #[error("unreadable finished-offsets metadata {metadata:?}: {reason}")]
    BadMetadata {
        /// The metadata, shortened to its first 64 characters.
        metadata: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}
