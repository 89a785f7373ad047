//! Helpers: budgets on the local stack's Redis under a unique key prefix, the budget hash as
//! stored. (A plain client, the server clock, a metrics recorder and the outage proxy are
//! trestle-testkit's.)

use std::collections::HashMap;

use fred::prelude::*;
use trestle_budget::{BudgetOptions, Budgets, Month};
use trestle_redis::RedisOptions;
use trestle_tiers::TierTable;
use uuid::Uuid;

/// Everything budgets are built from: the shared Redis section, the tier table, their own
/// options.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub redis: RedisOptions,
    pub tiers: TierTable,
    pub budget: BudgetOptions,
}

/// Defaults on the local stack's Redis, with a key prefix of this test's own.
pub(crate) fn setup(test: &str) -> Setup {
    Setup {
        redis: RedisOptions {
            redis_url: trestle_testkit::redis_url(),
            key_prefix: format!("{}:", trestle_testkit::unique(test)),
            ..RedisOptions::default()
        },
        tiers: TierTable::default(),
        budget: BudgetOptions::default(),
    }
}

/// Budgets on their own connection made with `setup.redis`.
pub(crate) async fn budgets(setup: &Setup) -> Budgets {
    let redis = setup.redis.connect().await.expect("connect to Redis");
    Budgets::new(redis, &setup.tiers, setup.budget.clone()).expect("build the budgets")
}

/// The month every test uses (keys are per test prefix anyway).
pub(crate) fn month() -> Month {
    Month::new(2025, 6).unwrap()
}

/// The budget hash of `company`'s month as stored (missing fields are absent).
pub(crate) async fn stored(setup: &Setup, company: Uuid, month: Month) -> HashMap<String, i64> {
    let key = format!(
        "{}budget:{}:{month}",
        setup.redis.key_prefix,
        company.hyphenated()
    );
    trestle_testkit::redis_client()
        .await
        .hgetall(key)
        .await
        .unwrap()
}
