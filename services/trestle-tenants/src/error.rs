//! Why a registration or a region table was refused.

/// A field of a registration that is malformed or not allowed; the message starts with the
/// field's name (`country must be two ASCII letters …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct InvalidField {
    /// The field, as the request names it (`name`, `country`, `tier`, `isolation`).
    pub field: &'static str,
    /// What is wrong with it, phrased to follow the field's name.
    pub problem: String,
}

impl InvalidField {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        InvalidField {
            field,
            problem: problem.into(),
        }
    }
}

/// A well-formed country code that the region table does not place in any region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("country {country} is not in the region table; an operator can add it under [regions.countries]")]
pub struct UnknownCountry {
    /// The code as given.
    pub country: String,
}

/// Any failure of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A registration field is malformed or not allowed.
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    /// The country has no region.
    #[error(transparent)]
    UnknownCountry(#[from] UnknownCountry),
    /// An entry of a configured region table is unusable.
    #[error("region table entry regions.countries.{country}: {problem}")]
    InvalidTableEntry {
        /// The entry's key, as written.
        country: String,
        /// What is wrong with it.
        problem: String,
    },
}
