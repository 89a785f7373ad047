//! Reserving against the real Redis: no overshoot across instances, refusals that name the
//! limit, tier defaults and overrides, tenants and months kept apart.

use std::time::Duration;

use fred::prelude::*;
use trestle_budget::{Budgets, LimitKind, MonthlyLimits, Overrides, Refused, Source, Tier};
use trestle_testkit::redis_client;
use uuid::Uuid;

use crate::support::{budgets, month, setup, stored};

/// Fires `per_instance` reserves at once from each instance (each its own Redis connection, on
/// a multi-threaded runtime) and counts the grants; checks every refusal names `which`.
async fn race(
    instances: &[Budgets],
    company: Uuid,
    limits: MonthlyLimits,
    estimate: i64,
    per_instance: usize,
    which: LimitKind,
) -> usize {
    let mut tasks = Vec::new();
    for instance in instances {
        for _ in 0..per_instance {
            let instance = instance.clone();
            tasks.push(tokio::spawn(async move {
                instance.reserve(company, month(), limits, estimate).await
            }));
        }
    }
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(reservation) => {
                assert_eq!(reservation.source(), Source::Redis);
                granted += 1;
            }
            Err(refused) => {
                assert_eq!((refused.which, refused.source), (which, Source::Redis));
            }
        }
    }
    granted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_overshoot_the_query_limit() {
    let setup = setup("queries_race");
    let instances = [budgets(&setup).await, budgets(&setup).await];
    let company = Uuid::new_v4();
    let limits = MonthlyLimits::new(Some(50), None);

    let granted = race(&instances, company, limits, 0, 100, LimitKind::Queries).await;

    assert_eq!(granted, 50, "200 concurrent reserves against a limit of 50");
    let hash = stored(&setup, company, month()).await;
    assert_eq!(hash["queries_reserved"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_overshoot_the_cost_limit() {
    let setup = setup("cost_race");
    let instances = [budgets(&setup).await, budgets(&setup).await];
    let company = Uuid::new_v4();
    // $1 at 2 cents a call: room for exactly 50.
    let limits = MonthlyLimits::new(None, Some(1_000_000));

    let granted = race(&instances, company, limits, 20_000, 100, LimitKind::Cost).await;

    assert_eq!(granted, 50, "200 concurrent reserves with room for 50");
    let hash = stored(&setup, company, month()).await;
    assert_eq!(hash["cost_reserved"], 1_000_000);
    assert_eq!(hash["queries_reserved"], 50);
}

#[tokio::test]
async fn refusal_names_the_limit_reached_with_spent_and_reserved() {
    let budgets = budgets(&setup("message")).await;
    let company = Uuid::new_v4();
    let limits = budgets.limits_for(Tier::Professional, &Overrides::default());
    assert_eq!(limits.cost_micro_usd, Some(50_000_000));

    let big = budgets
        .reserve(company, month(), limits, 49_940_000)
        .await
        .unwrap();
    budgets.settle(&big, 49_940_000).await;
    let _held = budgets
        .reserve(company, month(), limits, 50_000)
        .await
        .unwrap();
    let refused: Refused = budgets
        .reserve(company, month(), limits, 50_000)
        .await
        .unwrap_err();

    assert_eq!(
        refused.to_string(),
        "monthly AI cost limit $50.00 (professional) reached: $49.94 spent, $0.05 reserved"
    );
    assert_eq!(refused.which, LimitKind::Cost);

    let two_queries = budgets.limits_for(
        Tier::Professional,
        &Overrides {
            queries: Some(Some(2)),
            ..Overrides::default()
        },
    );
    let other = Uuid::new_v4();
    for _ in 0..2 {
        budgets
            .reserve(other, month(), two_queries, 0)
            .await
            .unwrap();
    }
    let refused = budgets
        .reserve(other, month(), two_queries, 0)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "monthly AI query limit 2 (professional) reached: 0 used, 2 reserved"
    );
}

/// How many one-cent reserves a fresh company gets under `limits` (at most `cap`).
async fn grants(budgets: &Budgets, limits: MonthlyLimits, cap: usize) -> usize {
    let company = Uuid::new_v4();
    let mut granted = 0;
    while granted < cap
        && budgets
            .reserve(company, month(), limits, 10_000)
            .await
            .is_ok()
    {
        granted += 1;
    }
    granted
}

#[tokio::test]
async fn the_tier_table_sets_each_tiers_limits_and_overrides_beat_them() {
    let mut setup = setup("tiers");
    let starter = setup.tiers.get_mut(Tier::Starter);
    starter.included_queries_per_month = Some(3);
    starter.included_cost_micro_usd_per_month = Some(1_000_000);
    let enterprise = setup.tiers.get_mut(Tier::Enterprise);
    enterprise.included_queries_per_month = Some(1_000);
    enterprise.included_cost_micro_usd_per_month = Some(50_000);
    let budgets = budgets(&setup).await;
    let none = Overrides::default();

    let starter = budgets.limits_for(Tier::Starter, &none);
    assert_eq!(grants(&budgets, starter, 20).await, 3);
    let refused = budgets
        .reserve(
            Uuid::new_v4(),
            month(),
            MonthlyLimits {
                queries: Some(0),
                ..starter
            },
            0,
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("(starter)"), "{refused}");

    let unlimited_queries = Overrides {
        queries: Some(None),
        ..none
    };
    let limits = budgets.limits_for(Tier::Starter, &unlimited_queries);
    assert_eq!(
        grants(&budgets, limits, 20).await,
        20,
        "the override lifts the limit"
    );
    // Enterprise's configured $0.05 at a cent each, then an override of $0.08.
    assert_eq!(
        grants(&budgets, budgets.limits_for(Tier::Enterprise, &none), 20).await,
        5
    );
    let more_money = Overrides {
        cost_micro_usd: Some(Some(80_000)),
        ..none
    };
    let limits = budgets.limits_for(Tier::Enterprise, &more_money);
    assert_eq!(grants(&budgets, limits, 20).await, 8);
}

#[tokio::test]
async fn keeps_each_company_and_month_apart_and_lets_old_months_expire() {
    let setup = setup("tenants");
    let budgets = budgets(&setup).await;
    let one = MonthlyLimits::new(Some(1), None);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());

    budgets.reserve(a, month(), one, 0).await.unwrap();
    assert!(budgets.reserve(a, month(), one, 0).await.is_err());
    budgets.reserve(b, month(), one, 0).await.unwrap();
    let next = trestle_budget::Month::new(2025, 7).unwrap();
    budgets.reserve(a, next, one, 0).await.unwrap();

    let key = format!(
        "{}budget:{}:{}",
        setup.redis.key_prefix,
        a.hyphenated(),
        month()
    );
    for key in [key.clone(), format!("{key}:open")] {
        let ttl_ms: i64 = redis_client().await.pttl(&key).await.unwrap();
        let forty_days = Duration::from_secs(40 * 24 * 3600).as_millis() as i64;
        assert!(
            ttl_ms > forty_days - 60_000 && ttl_ms <= forty_days,
            "{key}: {ttl_ms}"
        );
    }
}
