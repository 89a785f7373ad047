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
pub mod fixtures;
mod proxy;
mod read;
mod redis;
pub mod stack;
pub use counters::Counters;
pub use db::TestDb;
pub use proxy::TcpProxy;
pub use read::{read_topic, ReadRecord};
pub use redis::{redis_addr, redis_client, redis_time_us, redis_url};

/// Ports of the local stack, overridable like `compose/stack` does.
pub fn kafka_bootstrap() -> String {
    format!("127.0.0.1:{}", kafka_port())
}

fn kafka_port() -> u16 {
    port("TRESTLE_KAFKA_PORT", 19092)
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

/// A test's own copy of every topic, under a unique prefix. Deleted by [`TestTopics::delete`]
/// at the end of a passing test, or when dropped (a failing test's topics go too).
pub struct TestTopics {
    pub options: KafkaOptions,
    pub specs: Vec<TopicSpec>,
    deleted: bool,
}

impl TestTopics {
    /// Creates every topic of `topics.toml` under a fresh prefix, with `partitions` each
    /// (small counts keep the single test broker quick).
    pub async fn create(test: &str, partitions: i32) -> anyhow::Result<Self> {
        stack::require_kafka();
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
        Ok(TestTopics {
            options,
            specs,
            deleted: false,
        })
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
    pub async fn delete(mut self) {
        self.deleted = true;
        let _ = trestle_kafka::topics::delete(&self.options, &self.specs).await;
    }
}

impl Drop for TestTopics {
    /// A test that failed (or forgot [`TestTopics::delete`]) still removes its topics: on a
    /// thread of its own, so this works inside and outside an async runtime.
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let (options, specs) = (self.options.clone(), std::mem::take(&mut self.specs));
        run_to_completion(async move {
            let _ = trestle_kafka::topics::delete(&options, &specs).await;
        });
    }
}

/// Runs `cleanup` on a new thread with its own runtime and waits for it (used by `Drop`s,
/// which cannot await and may run on a runtime thread).
pub(crate) fn run_to_completion(cleanup: impl Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(cleanup);
        }
    })
    .join();
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
