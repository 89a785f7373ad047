//! Taking, giving back and reconciling one project's daily counters; Redis down lets calls go.

use chrono::NaiveDate;
use trestle_quota::{QuotaOptions, Quotas, Take};
use trestle_redis::RedisOptions;
use trestle_testkit::TcpProxy;

fn options(limit: u64) -> QuotaOptions {
    QuotaOptions {
        requests_per_day: [("gemini".to_string(), limit)].into_iter().collect(),
        ..QuotaOptions::default()
    }
}

async fn quotas(test: &str, url: String, limit: u64) -> Quotas {
    let redis = RedisOptions {
        redis_url: url,
        key_prefix: format!("{}:", trestle_testkit::unique(test)),
        probe_interval_ms: 20,
        ..RedisOptions::default()
    };
    let redis = redis.connect().await.expect("connect to Redis");
    Quotas::new(redis, options(limit))
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

#[tokio::test]
async fn a_project_gets_its_daily_limit_and_not_one_call_more_even_when_asked_at_once() {
    let quotas = quotas("quota-limit", trestle_testkit::redis_url(), 25).await;
    let takes = (0..40).map(|_| quotas.take("p1", "gemini", day(3)));
    let takes = futures::future::join_all(takes).await;
    let granted = takes.iter().filter(|t| t.counted()).count();
    assert_eq!(granted, 25, "{takes:?}");
    assert!(takes.contains(&Take::Exhausted { limit: 25 }));
    assert_eq!(quotas.used("p1", "gemini", day(3)).await.unwrap(), 25);
    // Another project, another day and a provider without a quota are not touched.
    assert!(quotas.take("p2", "gemini", day(3)).await.counted());
    assert!(quotas.take("p1", "gemini", day(4)).await.counted());
    assert_eq!(quotas.take("p1", "openai", day(3)).await, Take::Unlimited);
}

#[tokio::test]
async fn a_failed_call_gives_its_request_back() {
    let quotas = quotas("quota-give-back", trestle_testkit::redis_url(), 2).await;
    assert!(quotas.take("p1", "gemini", day(3)).await.counted());
    assert!(quotas.take("p1", "gemini", day(3)).await.counted());
    assert!(!quotas.take("p1", "gemini", day(3)).await.allows());
    quotas.give_back("p1", "gemini", day(3)).await;
    assert_eq!(quotas.used("p1", "gemini", day(3)).await.unwrap(), 1);
    assert!(quotas.take("p1", "gemini", day(3)).await.counted());
}

#[tokio::test]
async fn reconciling_raises_a_counter_that_lost_calls_and_never_lowers_one() {
    let quotas = quotas("quota-reconcile", trestle_testkit::redis_url(), 100).await;
    for _ in 0..5 {
        quotas.take("p1", "gemini", day(3)).await;
    }
    assert_eq!(quotas.raise_to("p1", "gemini", day(3), 3).await.unwrap(), 5);
    assert_eq!(
        quotas.raise_to("p1", "gemini", day(3), 40).await.unwrap(),
        40
    );
    assert_eq!(quotas.used("p1", "gemini", day(3)).await.unwrap(), 40);
}

#[tokio::test]
async fn calls_go_ahead_unchecked_while_redis_is_down() {
    let mut proxy = TcpProxy::to_redis();
    let quotas = quotas("quota-outage", proxy.redis_url(), 1).await;
    assert!(quotas.take("p1", "gemini", day(3)).await.counted());
    assert!(!quotas.take("p1", "gemini", day(3)).await.allows());
    proxy.close().await;
    assert_eq!(quotas.take("p1", "gemini", day(3)).await, Take::Unchecked);
    assert!(quotas.used("p1", "gemini", day(3)).await.is_err());
}
