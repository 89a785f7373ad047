//! [`Error`]: why a tier table was refused.

/// A value of the tier table that no service can work with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `tiers.{tier}.{field}` is invalid.
    InvalidSetting {
        /// The tier's symbol.
        tier: &'static str,
        /// The setting's field name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidSetting {
                tier,
                field,
                reason,
            } => write!(f, "invalid tier setting tiers.{tier}.{field}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
