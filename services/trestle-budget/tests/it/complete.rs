//! Settling and releasing against the real Redis: holds become spend or come back, once per
//! reservation; leaked holds are reclaimed; settles after the window are ignored.

use std::time::Duration;

use futures::future::join_all;
use trestle_budget::{Completion, MonthlyLimits, Usage};
use trestle_testkit::{redis_time_us, wait_for};
use uuid::Uuid;

use crate::support::{budgets, month, setup};

const ROOMY: MonthlyLimits = MonthlyLimits::new(Some(1_000), Some(1_000_000_000));

fn usage(qu: i64, qr: i64, cs: i64, cr: i64) -> Usage {
    Usage {
        queries_used: qu,
        queries_reserved: qr,
        cost_spent_micro_usd: cs,
        cost_reserved_micro_usd: cr,
    }
}

#[tokio::test]
async fn settle_moves_the_hold_to_spent_at_the_actual_cost() {
    let budgets = budgets(&setup("settle")).await;
    let company = Uuid::new_v4();
    let reservation = budgets.reserve(company, month(), ROOMY, 500).await.unwrap();
    assert_eq!(
        budgets.usage(company, month()).await.unwrap(),
        usage(0, 1, 0, 500)
    );

    assert_eq!(budgets.settle(&reservation, 321).await, Completion::Applied);

    assert_eq!(
        budgets.usage(company, month()).await.unwrap(),
        usage(1, 0, 321, 0)
    );
}

#[tokio::test]
async fn release_gives_the_hold_back_without_spending() {
    let budgets = budgets(&setup("release")).await;
    let company = Uuid::new_v4();
    let one = MonthlyLimits::new(Some(1), Some(500));
    let reservation = budgets.reserve(company, month(), one, 500).await.unwrap();
    assert!(budgets.reserve(company, month(), one, 500).await.is_err());

    assert_eq!(budgets.release(&reservation).await, Completion::Applied);

    assert_eq!(
        budgets.usage(company, month()).await.unwrap(),
        Usage::default()
    );
    budgets.reserve(company, month(), one, 500).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_or_releasing_twice_counts_once() {
    let setup = setup("twice");
    let instances = [budgets(&setup).await, budgets(&setup).await];
    let company = Uuid::new_v4();

    let settled = instances[0]
        .reserve(company, month(), ROOMY, 100)
        .await
        .unwrap();
    // A redone settle from either instance, some at the same time, and a late release.
    let completions = join_all((0..10).map(|i| instances[i % 2].settle(&settled, 70))).await;
    let applied = completions
        .iter()
        .filter(|c| **c == Completion::Applied)
        .count();
    assert_eq!(applied, 1, "{completions:?}");
    assert!(completions
        .iter()
        .all(|c| matches!(c, Completion::Applied | Completion::AlreadyDone)));
    assert_eq!(
        instances[1].release(&settled).await,
        Completion::AlreadyDone
    );

    let released = instances[1]
        .reserve(company, month(), ROOMY, 100)
        .await
        .unwrap();
    assert_eq!(instances[0].release(&released).await, Completion::Applied);
    assert_eq!(
        instances[1].release(&released).await,
        Completion::AlreadyDone
    );
    assert_eq!(
        instances[1].settle(&released, 5).await,
        Completion::AlreadyDone
    );

    assert_eq!(
        instances[0].usage(company, month()).await.unwrap(),
        usage(1, 0, 70, 0)
    );
}

#[tokio::test]
async fn reclaims_a_leaked_reservation_after_its_ttl() {
    let mut setup = setup("leak");
    setup.budget.reservation_ttl_ms = 300;
    let budgets = budgets(&setup).await;
    let company = Uuid::new_v4();
    let one = MonthlyLimits::new(Some(1), Some(1_000));
    // The engine that made it crashed: nobody settles or releases it.
    let leaked = budgets.reserve(company, month(), one, 1_000).await.unwrap();
    assert!(budgets.reserve(company, month(), one, 1).await.is_err());

    wait_for(
        "the leaked hold to be reclaimed",
        Duration::from_secs(10),
        || {
            let budgets = budgets.clone();
            async move {
                (budgets.usage(company, month()).await.unwrap() == Usage::default()).then_some(())
            }
        },
    )
    .await;
    let next = budgets.reserve(company, month(), one, 400).await.unwrap();

    // Its engine comes back within the settle window: what it spent is counted, once, and the
    // hold that was already reclaimed is not given back twice.
    assert_eq!(budgets.settle(&leaked, 600).await, Completion::Applied);
    assert_eq!(budgets.settle(&leaked, 600).await, Completion::AlreadyDone);
    assert_eq!(
        budgets.usage(company, month()).await.unwrap(),
        usage(1, 1, 600, 400)
    );
    assert_eq!(budgets.release(&next).await, Completion::Applied);
}

#[tokio::test]
async fn ignores_a_settle_later_than_the_settle_window() {
    let mut setup = setup("window");
    setup.budget.reservation_ttl_ms = 100;
    setup.budget.settle_window_ms = 300;
    let budgets = budgets(&setup).await;
    let company = Uuid::new_v4();
    let reservation = budgets.reserve(company, month(), ROOMY, 50).await.unwrap();
    let client = trestle_testkit::redis_client().await;

    let deadline = reservation.reserved_at_ms() + 300;
    wait_for(
        "Redis time past the settle window",
        Duration::from_secs(10),
        || {
            let client = client.clone();
            async move { (redis_time_us(&client).await / 1000 > deadline).then_some(()) }
        },
    )
    .await;

    assert_eq!(budgets.settle(&reservation, 50).await, Completion::TooLate);
    assert_eq!(
        budgets.usage(company, month()).await.unwrap(),
        Usage::default()
    );
}
