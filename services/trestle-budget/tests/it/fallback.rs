//! Redis trouble: down at start, gone and back. Budgets fall back to this instance's share,
//! queue what is settled meanwhile, and send it to Redis when it answers again.

use std::time::Duration;

use trestle_budget::{names, Budgets, Completion, Error, LimitKind, MonthlyLimits, Source};
use trestle_testkit::{wait_for, Counters, TcpProxy};
use uuid::Uuid;

use crate::support::{budgets, month, setup, stored};

fn outages(counters: &Counters) -> u64 {
    counters.get(names::REDIS_OUTAGES_TOTAL, &[])
}

/// Reserves for a throwaway company without limits until the answer comes from `source`.
async fn source_becomes(budgets: &Budgets, source: Source) {
    wait_for(
        &format!("reservations from {source:?}"),
        Duration::from_secs(10),
        || {
            let budgets = budgets.clone();
            async move {
                let reservation = budgets
                    .reserve(Uuid::new_v4(), month(), MonthlyLimits::UNLIMITED, 0)
                    .await
                    .unwrap();
                (reservation.source() == source).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn falls_back_to_a_share_of_what_was_left_and_sends_the_spend_when_redis_returns() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let mut proxy = TcpProxy::to_redis();
    let mut setup = setup("outage");
    setup.redis.redis_url = proxy.redis_url();
    setup.redis.probe_interval_ms = 20;
    setup.redis.fallback_instances = 2;
    let budgets = budgets(&setup).await;
    let company = Uuid::new_v4();
    let limits = MonthlyLimits::new(Some(20), None);
    let mut held = Vec::new();
    for _ in 0..10 {
        let reservation = budgets
            .reserve(company, month(), limits, 100)
            .await
            .unwrap();
        assert_eq!(reservation.source(), Source::Redis);
        held.push(reservation);
    }

    proxy.close().await;
    source_becomes(&budgets, Source::LocalFallback).await;
    // 10 of 20 were left when this instance last saw Redis; its share of 2 instances is 5.
    let mut local = Vec::new();
    let refused = loop {
        match budgets.reserve(company, month(), limits, 100).await {
            Ok(reservation) => local.push(reservation),
            Err(refused) => break refused,
        }
        assert!(local.len() <= 5, "granted more than this instance's share");
    };
    assert_eq!(local.len(), 5);
    assert!(local.iter().all(|r| r.source() == Source::LocalFallback));
    assert_eq!(
        (refused.which, refused.source),
        (LimitKind::Queries, Source::LocalFallback)
    );
    assert_eq!(
        refused.to_string(),
        "monthly AI query limit 20 reached: 0 used, 15 reserved"
    );

    // Settled during the outage: one local grant, one Redis one; redone settles count once.
    assert_eq!(budgets.settle(&local[0], 700).await, Completion::Queued);
    assert_eq!(
        budgets.settle(&local[0], 700).await,
        Completion::AlreadyDone
    );
    assert_eq!(budgets.settle(&held[0], 300).await, Completion::Queued);
    assert_eq!(budgets.release(&local[1]).await, Completion::Queued);

    proxy.reopen();
    source_becomes(&budgets, Source::Redis).await;
    wait_for(
        "the queued settles to reach Redis",
        Duration::from_secs(10),
        || {
            let setup = setup.clone();
            async move {
                let hash = stored(&setup, company, month()).await;
                (hash.get("queries_used") == Some(&2)).then_some(hash)
            }
        },
    )
    .await;
    let hash = stored(&setup, company, month()).await;
    assert_eq!(hash["cost_spent"], 1_000);
    assert_eq!(
        hash["queries_reserved"], 9,
        "the Redis hold settled; local grants held none"
    );
    assert_eq!(
        budgets.settle(&local[0], 700).await,
        Completion::AlreadyDone
    );
    assert_eq!(outages(&counters), 1, "one outage, however many calls");
}

#[tokio::test(start_paused = true)]
async fn starts_in_fallback_when_redis_is_down_and_never_fails_a_call() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let mut setup = setup("down");
    setup.redis.redis_url = "redis://127.0.0.1:1".into();
    setup.redis.connect_timeout_ms = 200;
    // Every call may try Redis again: the worst case for latency.
    setup.redis.probe_interval_ms = 1;
    // On tokio's paused clock only the timers move time: the bound is exact.
    let started = tokio::time::Instant::now();
    let budgets = budgets(&setup).await; // Redis down is no error
    assert!(started.elapsed() <= Duration::from_millis(200 + 1));

    // Never seen: 10 % of 100 queries, one instance.
    let company = Uuid::new_v4();
    let limits = MonthlyLimits::new(Some(100), None);
    let mut granted = Vec::new();
    while let Ok(reservation) = budgets.reserve(company, month(), limits, 10).await {
        assert_eq!(reservation.source(), Source::LocalFallback);
        granted.push(reservation);
        assert!(granted.len() <= 10);
    }
    assert_eq!(granted.len(), 10);
    assert_eq!(budgets.release(&granted[0]).await, Completion::Queued);
    assert_eq!(budgets.settle(&granted[1], 10).await, Completion::Queued);
    budgets.reserve(company, month(), limits, 10).await.unwrap();
    assert!(matches!(
        budgets.usage(company, month()).await,
        Err(Error::Unavailable { .. })
    ));
    assert_eq!(outages(&counters), 1);
    let local = |outcome| {
        counters.get(
            names::RESERVATIONS_TOTAL,
            &[("source", "local_fallback"), ("outcome", outcome)],
        )
    };
    assert_eq!((local("granted"), local("refused_queries")), (11, 1));
}
