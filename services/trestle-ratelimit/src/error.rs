//! Why a [`RateLimiter`](crate::RateLimiter) could not be built. Decisions never fail.

/// A construction error. Redis being unreachable is not one: the limiter starts in fallback.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option has a value the limiter cannot work with.
    #[error("invalid rate limit option {field}: {reason}")]
    InvalidOption { field: &'static str, reason: String },
    /// `redis_url` cannot be parsed or describes a setup the client refuses (`url` has its
    /// password hidden).
    #[error("invalid redis_url {url}")]
    RedisUrl {
        url: String,
        #[source]
        source: fred::error::Error,
    },
}

impl From<trestle_redis::Error> for Error {
    fn from(error: trestle_redis::Error) -> Self {
        match error {
            trestle_redis::Error::RedisUrl { url, source } => Error::RedisUrl { url, source },
        }
    }
}
