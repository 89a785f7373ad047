//! A metrics recorder that counts every counter increment, for asserting on telemetry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Counts every counter increment; install with `metrics::set_default_local_recorder` in a
/// current-thread test, where the code under test runs on the test's thread.
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
