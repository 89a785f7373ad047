//! Helpers: budgets on the local stack's Redis under a unique key prefix, the budget hash as
//! stored. (A plain client, the server clock, a metrics recorder and the outage proxy are
//! trestle-testkit's.)

use std::collections::HashMap;

use fred::prelude::*;
use trestle_budget::{BudgetOptions, Budgets, Month};
use uuid::Uuid;

/// Options for the local stack's Redis, with a key prefix of this test's own.
pub fn options(test: &str) -> BudgetOptions {
    BudgetOptions {
        redis_url: trestle_testkit::redis_url(),
        key_prefix: format!("{}:", trestle_testkit::unique(test)),
        ..BudgetOptions::default()
    }
}

/// Budgets on the local stack's Redis.
pub async fn budgets(options: &BudgetOptions) -> Budgets {
    options.clone().build().await.expect("build the budgets")
}

/// The month every test uses (keys are per test prefix anyway).
pub fn month() -> Month {
    Month::new(2025, 6).unwrap()
}

/// The budget hash of `company`'s month as stored (missing fields are absent).
pub async fn stored(options: &BudgetOptions, company: Uuid, month: Month) -> HashMap<String, i64> {
    let key = format!(
        "{}budget:{}:{month}",
        options.key_prefix,
        company.hyphenated()
    );
    trestle_testkit::redis_client()
        .await
        .hgetall(key)
        .await
        .unwrap()
}
