//! Helpers: limiters on the local stack's Redis under a unique key prefix. (A plain client, the
//! server clock, a metrics recorder and the outage proxy are trestle-testkit's.)

use trestle_ratelimit::{RateLimitOptions, RateLimiter};

/// Options for the local stack's Redis, with a key prefix of this test's own.
pub fn options(test: &str) -> RateLimitOptions {
    RateLimitOptions {
        redis_url: trestle_testkit::redis_url(),
        key_prefix: format!("{}:", trestle_testkit::unique(test)),
        ..RateLimitOptions::default()
    }
}

/// A limiter on the local stack's Redis; fails the test if Redis does not answer.
pub async fn limiter(options: &RateLimitOptions) -> RateLimiter {
    options.clone().build().await.expect("build the limiter")
}
