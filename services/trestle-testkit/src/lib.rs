//! Test support for integration tests against the real local stack (`compose/stack up`).
//!
//! Each test owns its resources: a unique topic prefix (its own copy of every topic of
//! `topics.toml`), its own Postgres databases and its own Redis key prefix, so tests pass alone
//! or in parallel. Waits poll a condition with a deadline instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

use trestle_kafka::topics::TopicSpec;
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

mod db;
pub use db::TestDb;

/// Ports of the local stack, overridable like `compose/stack` does.
pub fn kafka_bootstrap() -> String {
    format!("127.0.0.1:{}", port("TRESTLE_KAFKA_PORT", 19092))
}

/// Postgres port of the local stack.
pub fn pg_port() -> u16 {
    port("TRESTLE_PG_PORT", 15432)
}

/// Redis URL of the local stack.
pub fn redis_url() -> String {
    format!("redis://127.0.0.1:{}", port("TRESTLE_REDIS_PORT", 16379))
}

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A short unique suffix for names of one test run.
pub fn unique(name: &str) -> String {
    let id = Uuid::new_v4().simple().to_string();
    format!("{}_{}", name.replace(['-', '.'], "_"), &id[..10])
}

/// A test's own copy of every topic, under a unique prefix.
pub struct TestTopics {
    pub options: KafkaOptions,
    pub specs: Vec<TopicSpec>,
}

impl TestTopics {
    /// Creates every topic of `topics.toml` under a fresh prefix, with `partitions` each
    /// (small counts keep the single test broker quick).
    pub async fn create(test: &str, partitions: i32) -> anyhow::Result<Self> {
        let options = KafkaOptions {
            bootstrap_servers: kafka_bootstrap(),
            topic_prefix: format!("t.{}.", unique(test)),
            ..KafkaOptions::default()
        };
        let specs: Vec<TopicSpec> = trestle_kafka::topics::builtin()
            .into_iter()
            .map(|mut s| {
                s.partitions = partitions;
                s
            })
            .collect();
        trestle_kafka::topics::apply(&options, &specs)
            .await
            .map_err(|e| anyhow::anyhow!("{e}; is the stack up? run `compose/stack up`"))?;
        Ok(TestTopics { options, specs })
    }

    /// The physical name of a logical topic.
    pub fn topic(&self, logical: &str) -> String {
        self.options.topic(logical)
    }

    /// A consumer group id unique to this test.
    pub fn group(&self, role: &str) -> String {
        format!("{}{}", self.options.topic_prefix, role)
    }

    /// Deletes the topics (call at the end of a passing test).
    pub async fn delete(self) {
        let _ = trestle_kafka::topics::delete(&self.options, &self.specs).await;
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
