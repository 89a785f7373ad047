//! Why a [`RateLimiter`](crate::RateLimiter) could not be built. Decisions never fail.

/// A construction error. Redis being unreachable is not one: the limiter starts in fallback.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option has a value the limiter cannot work with.
    #[error("invalid rate limit option {field}: {reason}")]
    InvalidOption { field: &'static str, reason: String },
}
