//! Helpers: limiters on the local stack's Redis under a unique key prefix. (A plain client, the
//! server clock, a metrics recorder and the outage proxy are trestle-testkit's.)

use trestle_ratelimit::{RateLimitOptions, RateLimiter};
use trestle_redis::RedisOptions;
use trestle_tiers::TierTable;

/// Redis options for the local stack's Redis, with a key prefix of this test's own.
pub(crate) fn options(test: &str) -> RedisOptions {
    RedisOptions {
        redis_url: trestle_testkit::redis_url(),
        key_prefix: format!("{}:", trestle_testkit::unique(test)),
        ..RedisOptions::default()
    }
}

/// A limiter with the default tier table and options on a connection made with `redis`.
pub(crate) async fn limiter(redis: &RedisOptions) -> RateLimiter {
    limiter_with(redis, RateLimitOptions::default()).await
}

/// A limiter with the default tier table and `options` on a connection made with `redis`.
pub(crate) async fn limiter_with(redis: &RedisOptions, options: RateLimitOptions) -> RateLimiter {
    let redis = redis.connect().await.expect("connect to Redis");
    RateLimiter::new(redis, &TierTable::default(), options).expect("build the limiter")
}
