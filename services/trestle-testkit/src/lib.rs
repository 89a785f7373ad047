//! Test support for integration tests against the real local stack (`compose/stack up`).
//!
//! Each test owns its resources: a unique topic prefix (its own copy of every topic of
//! `topics.toml`), its own Postgres databases and its own Redis key prefix, so tests pass alone
//! or in parallel. Waits poll a condition with a deadline instead of sleeping. A [`TcpProxy`]
//! in front of Redis simulates an outage without touching the shared stack; [`Counters`]
//! records what a test's code counted.

use std::future::Future;
use std::time::{Duration, Instant};

use trestle_kafka::topics::TopicSpec;
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

mod counters;
mod db;
mod proxy;
mod redis;
pub use counters::Counters;
pub use db::TestDb;
pub use proxy::TcpProxy;
pub use redis::{redis_addr, redis_client, redis_time_us, redis_url};

/// Ports of the local stack, overridable like `compose/stack` does.
pub fn kafka_bootstrap() -> String {
    format!("127.0.0.1:{}", port("TRESTLE_KAFKA_PORT", 19092))
}

/// Postgres port of the local stack.
pub fn pg_port() -> u16 {
    port("TRESTLE_PG_PORT", 15432)
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

/// The end offset (high watermark) of every partition of a physical topic.
pub fn end_offsets(options: &KafkaOptions, topic: &str) -> anyhow::Result<Vec<(i32, i64)>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = options.client_config().create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len() as i32)
        .unwrap_or(0);
    (0..partitions)
        .map(|p| {
            let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            Ok((p, high))
        })
        .collect()
}

/// A record read back from a topic.
pub use trestle_kafka::OwnedRecord as ReadRecord;

/// Reads a physical topic from the start (read_committed, a fresh group) until `n` records
/// arrived, or fails after `timeout`. Then keeps reading for `settle` to catch any extra.
pub async fn read_topic(
    options: &KafkaOptions,
    topic: &str,
    n: usize,
    timeout: Duration,
    settle: Duration,
) -> Vec<ReadRecord> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let group = format!("{}reader-{}", options.topic_prefix, Uuid::new_v4().simple());
    let consumer: StreamConsumer = options.consumer_config(&group).create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut settle_until: Option<Instant> = None;
    loop {
        let until = match settle_until {
            Some(t) => t,
            None => deadline,
        };
        let now = Instant::now();
        if now >= until {
            break;
        }
        match tokio::time::timeout(until - now, consumer.recv()).await {
            Ok(Ok(m)) => {
                out.push(ReadRecord::from_message(&m));
                if out.len() >= n && settle_until.is_none() {
                    settle_until = Some(Instant::now() + settle);
                }
            }
            Ok(Err(e)) => panic!("reading {topic}: {e}"),
            Err(_) => break,
        }
    }
    trestle_kafka::consumer::close(consumer).await;
    assert!(
        out.len() >= n,
        "read {} of {n} records from {topic} before the deadline",
        out.len()
    );
    out
}

/// A child process that is SIGKILLed when dropped, so a failing test leaves no service behind.
pub struct ChildGuard(pub std::process::Child);

impl ChildGuard {
    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
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
