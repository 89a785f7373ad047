//! Why a [`Budgets`](crate::Budgets) could not be built or asked. Reserving, settling and
//! releasing never fail: Redis trouble is handled by the fallback.

/// A construction or query error. Redis being unreachable at start is not one: the handle starts
/// in fallback.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option has a value the budgets cannot work with.
    #[error("invalid budget option {field}: {reason}")]
    InvalidOption { field: &'static str, reason: String },
    /// The tier table is invalid.
    #[error(transparent)]
    Tiers(#[from] trestle_tiers::Error),
    /// Not a calendar month.
    #[error("invalid month {year}-{month}: the month must be 1 to 12 and the year 0 to 9999")]
    InvalidMonth { year: i32, month: u32 },
    /// Redis did not answer a read ([`Budgets::usage`](crate::Budgets::usage)); `key` is the
    /// budget's hash.
    #[error("Redis at {redis_url} did not answer for {key}: {reason}")]
    Unavailable {
        redis_url: String,
        key: String,
        reason: String,
    },
}
