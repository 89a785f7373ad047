//! Latency of one decision against the local stack's Redis: p50/p99 over sequential calls.
//!
//! `cargo run -p trestle-ratelimit --example decision_latency [-- CALLS]` (default 2000).
//! Prints figures only; nothing is asserted.

use std::time::{Duration, Instant};

use trestle_ratelimit::{Limit, RateLimitOptions, RateLimiter, Source};
use trestle_redis::RedisOptions;
use trestle_tiers::TierTable;
use uuid::Uuid;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(2000);
    let redis = RedisOptions {
        redis_url: trestle_testkit::redis_url(),
        key_prefix: format!("{}:", trestle_testkit::unique("latency")),
        ..RedisOptions::default()
    };
    let limiter = RateLimiter::new(
        redis.connect().await?,
        &TierTable::default(),
        RateLimitOptions::default(),
    )?;
    // Companies rotate so both allowed and limited decisions are measured.
    let companies: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
    let limit = Limit::new(120, 20);

    // Warm up the connection and the script cache.
    for company in &companies {
        limiter.check(*company, limit).await;
    }
    let mut took = Vec::with_capacity(calls);
    let mut allowed = 0;
    for i in 0..calls {
        let started = Instant::now();
        let decision = limiter.check(companies[i % companies.len()], limit).await;
        took.push(started.elapsed());
        assert_eq!(decision.source(), Source::Redis, "Redis must answer");
        allowed += usize::from(decision.is_allowed());
    }
    took.sort_unstable();
    let pct = |p: f64| took[((took.len() as f64 * p).ceil() as usize).clamp(1, took.len()) - 1];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{calls} sequential decisions against {}: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({allowed} allowed)",
        trestle_testkit::redis_url(),
        us(pct(0.50)),
        us(pct(0.99)),
        us(took[took.len() - 1]),
    );
    Ok(())
}
