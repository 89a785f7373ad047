//! Limits against the real Redis: exact bursts per tier, shared across instances, per tenant,
//! refill, batches, expiry.

use std::time::Duration;

use fred::prelude::*;
use futures::future::join_all;
use trestle_ratelimit::{
    Decision, Limit, RateLimitOptions, RateLimiter, Source, Tier, DEFAULT_BURST_FRACTION,
    RETRY_NEVER_MS,
};
use trestle_testkit::{redis_client, redis_time_us};
use trestle_tiers::TierTable;
use uuid::Uuid;

use crate::support::{limiter, limiter_with, options};

/// Fires `count` requests for a fresh company at once (pipelined on one connection, so Redis
/// runs them back to back) and checks that exactly `limit.burst` are allowed, the others limited
/// until about one interval later.
async fn check_burst(limiter: &RateLimiter, limit: Limit, count: u32) {
    let company = Uuid::new_v4();
    let decisions = join_all((0..count).map(|_| limiter.check(company, limit))).await;
    let interval_ms = 60_000 / u64::from(limit.per_minute);

    let mut remaining: Vec<u32> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Allowed { remaining, .. } => Some(*remaining),
            Decision::Limited { .. } => None,
        })
        .collect();
    remaining.sort_unstable();
    let expected: Vec<u32> = (0..limit.burst).collect();
    assert_eq!(remaining, expected, "{limit:?}: {decisions:?}");
    for decision in &decisions {
        assert_eq!(decision.source(), Source::Redis, "{limit:?}");
        if let Decision::Limited { retry_after_ms, .. } = *decision {
            assert!(
                retry_after_ms > 0 && retry_after_ms <= interval_ms,
                "{limit:?}: retry after {retry_after_ms} ms, interval {interval_ms} ms"
            );
        }
    }
}

#[tokio::test]
async fn allows_exactly_the_burst_of_each_tier_at_one_instant() {
    let limiter = limiter(&options("tiers")).await;
    for (tier, burst) in [
        (Tier::Starter, 2),
        (Tier::Professional, 5),
        (Tier::Premium, 10),
        (Tier::Enterprise, 20),
    ] {
        let limit = limiter.tier_limit(tier);
        let per_minute = TierTable::default().get(tier).requests_per_minute;
        assert_eq!(
            limit,
            Limit::with_burst_fraction(per_minute, DEFAULT_BURST_FRACTION)
        );
        assert_eq!(limit.burst, burst, "{tier}");
        check_burst(&limiter, limit, burst + 5).await;
    }
}

#[tokio::test]
async fn applies_a_per_company_override_and_the_configured_burst_fraction() {
    let half = RateLimitOptions {
        burst_fraction: 0.5,
        ..RateLimitOptions::default()
    };
    let limiter = limiter_with(&options("override"), half).await;
    assert_eq!(limiter.tier_limit(Tier::Starter), Limit::new(10, 5));
    check_burst(&limiter, limiter.tier_limit(Tier::Starter), 8).await;
    check_burst(&limiter, Limit::new(1000, 37), 45).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_one_limit_across_instances() {
    let options = options("shared");
    // Two instances, each with its own Redis connection.
    let instances = [limiter(&options).await, limiter(&options).await];
    let company = Uuid::new_v4();
    // One request a minute: no refill while the test runs, so the burst is all there is.
    let limit = Limit::new(1, 50);

    let mut tasks = Vec::new();
    for instance in &instances {
        for _ in 0..4 {
            let instance = instance.clone();
            tasks.push(tokio::spawn(async move {
                let mut allowed = 0;
                for _ in 0..50 {
                    let decision = instance.check(company, limit).await;
                    assert_eq!(decision.source(), Source::Redis);
                    allowed += u32::from(decision.is_allowed());
                }
                allowed
            }));
        }
    }
    let allowed: u32 = join_all(tasks).await.into_iter().map(Result::unwrap).sum();
    assert_eq!(allowed, 50, "400 requests from two instances, burst 50");
}

#[tokio::test]
async fn keeps_tenants_independent() {
    let limiter = limiter(&options("tenants")).await;
    let limit = limiter.tier_limit(Tier::Starter);
    let (noisy, quiet) = (Uuid::new_v4(), Uuid::new_v4());
    for _ in 0..limit.burst {
        assert!(limiter.check(noisy, limit).await.is_allowed());
    }
    assert!(!limiter.check(noisy, limit).await.is_allowed());

    for _ in 0..limit.burst {
        assert!(limiter.check(quiet, limit).await.is_allowed());
    }
    assert!(!limiter.check(quiet, limit).await.is_allowed());
    assert!(!limiter.check(noisy, limit).await.is_allowed());
}

#[tokio::test]
async fn allows_one_more_request_after_retry_after() {
    let limiter = limiter(&options("refill")).await;
    let company = Uuid::new_v4();
    // One request per 100 ms, so the wait stays short.
    let limit = Limit::new(600, 1);
    assert!(limiter.check(company, limit).await.is_allowed());
    let Decision::Limited { retry_after_ms, .. } = limiter.check(company, limit).await else {
        panic!("the second request at once is limited");
    };
    assert!(
        retry_after_ms > 0 && retry_after_ms <= 100,
        "{retry_after_ms}"
    );

    // The algorithm needs this time to pass: nothing to poll for.
    tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
    assert_eq!(
        limiter.check(company, limit).await,
        Decision::Allowed {
            remaining: 0,
            source: Source::Redis
        }
    );
    assert!(!limiter.check(company, limit).await.is_allowed());
}

#[tokio::test]
async fn charges_a_batch_all_or_nothing() {
    let limiter = limiter(&options("batch")).await;
    let limit = Limit::new(60, 10);
    let company = Uuid::new_v4();
    assert_eq!(
        limiter.check_n(company, limit, 7).await,
        Decision::Allowed {
            remaining: 3,
            source: Source::Redis
        }
    );
    assert!(!limiter.check_n(company, limit, 4).await.is_allowed());
    assert!(limiter.check_n(company, limit, 3).await.is_allowed());

    let fresh = Uuid::new_v4();
    assert_eq!(
        limiter.check_n(fresh, limit, 11).await,
        Decision::Limited {
            retry_after_ms: RETRY_NEVER_MS,
            source: Source::Redis
        },
        "more than the burst can never fit"
    );
    assert_eq!(
        limiter.check_n(fresh, limit, 0).await,
        Decision::Allowed {
            remaining: 10,
            source: Source::Redis
        },
        "n = 0 only looks, and nothing was charged"
    );
}

#[tokio::test]
async fn a_zero_limit_allows_nothing() {
    let limiter = limiter(&options("zero")).await;
    for limit in [Limit::new(0, 10), Limit::new(10, 0)] {
        assert_eq!(
            limiter.check(Uuid::new_v4(), limit).await,
            Decision::Limited {
                retry_after_ms: RETRY_NEVER_MS,
                source: Source::Redis
            }
        );
    }
}

#[tokio::test]
async fn stores_server_time_under_the_company_key_and_lets_idle_keys_expire() {
    let options = options("expiry");
    let limiter = limiter(&options).await;
    let redis = redis_client().await;
    let company = Uuid::new_v4();
    let key = format!("{}rl:{company}", options.key_prefix);
    // One request per 100 ms, burst 5.
    let limit = Limit::new(600, 5);

    let before = redis_time_us(&redis).await;
    for _ in 0..3 {
        assert!(limiter.check(company, limit).await.is_allowed());
    }
    let after = redis_time_us(&redis).await;

    let tat: i64 = redis.get::<String, _>(&key).await.unwrap().parse().unwrap();
    assert!(
        tat >= before + 300_000 && tat <= after + 300_000,
        "TAT {tat} is three intervals past server time [{before}, {after}]"
    );
    let pttl: i64 = redis.pttl(&key).await.unwrap();
    assert!(
        pttl > 0 && pttl <= 300,
        "the key expires when the allowance is full again, got PTTL {pttl}"
    );
    // Looking (n = 0) never creates a key.
    let other = Uuid::new_v4();
    limiter.check_n(other, limit, 0).await;
    let exists: i64 = redis
        .exists(format!("{}rl:{other}", options.key_prefix))
        .await
        .unwrap();
    assert_eq!(exists, 0);
}
