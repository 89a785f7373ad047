//! Helpers: budgets on the local stack's Redis under a unique key prefix, a plain client to look
//! at what the script stored, a metrics recorder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fred::prelude::*;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
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

/// A plain client for looking at what the script stored.
pub async fn redis() -> Client {
    let client = Client::new(
        Config::from_url(&trestle_testkit::redis_url()).unwrap(),
        None,
        None,
        None,
    );
    client
        .init()
        .await
        .expect("Redis answers; is the stack up? run `compose/stack up`");
    client
}

/// The budget hash of `company`'s month as stored (missing fields are absent).
pub async fn stored(options: &BudgetOptions, company: Uuid, month: Month) -> HashMap<String, i64> {
    let key = format!(
        "{}budget:{}:{month}",
        options.key_prefix,
        company.hyphenated()
    );
    redis().await.hgetall(key).await.unwrap()
}

/// Counts every counter increment; install with `metrics::set_default_local_recorder` in a
/// current-thread test, where the limiter's code runs on the test's thread.
#[derive(Default)]
pub struct Counters {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

struct Count(Arc<AtomicU64>);

impl metrics::CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

impl Counters {
    /// The counter `name` with exactly these labels (in emission order), 0 if never counted.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let key = Self::render(name, labels.iter().map(|(k, v)| (*k, *v)));
        self.counters
            .lock()
            .unwrap()
            .get(&key)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn render<'a>(name: &str, labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
        let labels: Vec<String> = labels.map(|(k, v)| format!("{k}={v}")).collect();
        format!("{name}{{{}}}", labels.join(","))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let name = Self::render(key.name(), key.labels().map(|l| (l.key(), l.value())));
        let count = self
            .counters
            .lock()
            .unwrap()
            .entry(name)
            .or_default()
            .clone();
        Counter::from_arc(Arc::new(Count(count)))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Redis server time in ms since the epoch (the clock the script uses).
pub async fn server_time_ms(client: &Client) -> i64 {
    let time: Vec<i64> = client
        .eval(
            "local t = redis.call('TIME') return {tonumber(t[1]), tonumber(t[2])}",
            Vec::<String>::new(),
            Vec::<String>::new(),
        )
        .await
        .unwrap();
    time[0] * 1000 + time[1] / 1000
}
