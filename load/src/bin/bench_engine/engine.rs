//! The engine in the benchmark's process: its configuration for a run, start, graceful stop,
//! and the requests and registrations it is fed.

use std::time::Duration;

use anyhow::Context;
use trestle_engine::{DispatchMode, EngineConfig};
use trestle_events::{
    AiRequestKind, AiRequestSubmitted, CompanyRegistered, Event, Meta, Region, Tier,
};
use trestle_kafka::{EventProducer, KafkaOptions};
use uuid::Uuid;

/// An engine on `kafka`'s topics as group `group`: no rate limits (so no ladder), no monthly
/// cost limits and no response cache — the benchmark measures the scheduler and the pipeline,
/// not the limits — and otherwise the production defaults (commit every 100 ms or 1000
/// records, transactions).
pub(crate) fn config(kafka: &KafkaOptions, group: String, dispatch: DispatchMode) -> EngineConfig {
    let mut config = EngineConfig {
        kafka: kafka.clone(),
        group_id: group,
        dispatch,
        // The benchmark's companies are not onboarded.
        unprovisioned: trestle_engine::Unprovisioned::ServeAsStarter,
        ..EngineConfig::default()
    };
    config.ladder.enabled = false;
    config.cache.enabled = false;
    config.cost_limits.enabled = false;
    config.quotas.enabled = false;
    // Unused with all three off, but never the production keys.
    let prefix = format!("{}:", trestle_testkit::unique("bench_engine"));
    config.redis.redis_url = trestle_testkit::redis_url();
    config.redis.key_prefix = prefix;
    config
}

/// An engine running in this process.
pub(crate) struct Engine {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), trestle_engine::Error>>,
}

impl Engine {
    pub(crate) fn start(config: EngineConfig) -> Engine {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(trestle_engine::run(config, async {
            let _ = stopped.await;
        }));
        Engine { stop, task }
    }

    /// Stops it gracefully (in-flight requests finish and are committed) and waits.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("joining the engine")?
            .context("running the engine")
    }
}

/// A chat request of `company`, created now.
pub(crate) fn request(company: Uuid, prompt: &str) -> AiRequestSubmitted {
    AiRequestSubmitted {
        meta: Meta::root(company),
        request_id: Uuid::now_v7(),
        user_id: "bench-user".into(),
        kind: AiRequestKind::Chat,
        prompt: prompt.into(),
        ordering_key: None,
        job_id: None,
        submitted_via: "bench".into(),
        document_ids: vec![],
    }
}

/// Registers every company with `tier` on the tenants topic (read by the engine at start-up).
pub(crate) async fn register(
    producer: &EventProducer,
    companies: &[Uuid],
    tier: Tier,
) -> anyhow::Result<()> {
    let events: Vec<Event> = companies
        .iter()
        .map(|c| {
            Event::CompanyRegistered(CompanyRegistered {
                meta: Meta::root(*c),
                name: format!("bench company {c}"),
                tier,
                country: "US".into(),
                region: Region::Us,
                isolation: trestle_events::IsolationLevel::Shared,
            })
        })
        .collect();
    publish_all(producer, &events).await?;
    Ok(())
}

/// Publishes concurrently and waits for every acknowledgement.
pub(crate) async fn publish_all(producer: &EventProducer, events: &[Event]) -> anyhow::Result<()> {
    producer
        .publish_all(events)
        .await
        .with_context(|| format!("publishing {} events", events.len()))?;
    Ok(())
}

/// Sum of the end offsets of a physical topic (records plus transaction markers).
pub(crate) fn high_watermarks(kafka: &KafkaOptions, topic: &str) -> anyhow::Result<i64> {
    Ok(crate::progress::ends(kafka, topic)?.values().sum())
}

/// Poll interval of the progress observers: short against runs of seconds, cheap for the broker.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(10);
