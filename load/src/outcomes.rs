//! Reading the engine's outcomes back from `ai-outcomes` (read_committed) and counting them
//! per company and kind: answered, degraded, from cache, throttled, failed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use trestle_events::Event;
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

use crate::scenario::Scenario;

/// One company's outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Answered by a provider (billed), including degraded answers.
    pub answered: u64,
    /// Of `answered`: by a fallback or the cheaper degrade step.
    pub degraded: u64,
    pub from_cache: u64,
    pub throttled: u64,
    pub failed: u64,
}

impl Outcomes {
    pub fn total(&self) -> u64 {
        self.answered + self.from_cache + self.throttled + self.failed
    }
}

/// Where `ai-outcomes` ends now: outcomes of requests sent after this are read from here.
pub fn outcomes_end(kafka: &KafkaOptions) -> anyhow::Result<TopicPartitionList> {
    let topic = kafka.topic("ai-outcomes");
    let consumer: BaseConsumer = kafka.consumer_config("trestle-load-watermarks").create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (_, high) = consumer.fetch_watermarks(&topic, p.id(), Duration::from_secs(10))?;
        tpl.add_partition_offset(&topic, p.id(), Offset::Offset(high))?;
    }
    Ok(tpl)
}

/// Reads outcomes from `from` until the scenario's companies have `want` in all, printing
/// progress; returns them per company (scenario order). Never joins a consumer group.
pub async fn read_outcomes(
    kafka: &KafkaOptions,
    scenario: &Scenario,
    from: &TopicPartitionList,
    want: u64,
    timeout: Duration,
) -> anyhow::Result<Vec<Outcomes>> {
    let index: HashMap<Uuid, usize> = scenario
        .companies
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let group = format!("trestle-load-reader-{}", Uuid::new_v4());
    let consumer: StreamConsumer = kafka.consumer_config(&group).create()?;
    consumer.assign(from)?;
    let mut out = vec![Outcomes::default(); scenario.companies.len()];
    let (mut have, mut reported) = (0u64, Instant::now());
    let deadline = Instant::now() + timeout;
    while have < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(message) = tokio::time::timeout(left, consumer.recv()).await else {
            eprintln!(
                "  only {have}/{want} outcomes after {} s",
                timeout.as_secs()
            );
            break;
        };
        let message = message?;
        let Some(Ok(event)) = message.payload().map(trestle_events::decode) else {
            continue;
        };
        let Some(&i) = index.get(&event.meta().company_id) else {
            continue;
        };
        let o = &mut out[i];
        match event {
            Event::AiRequestCompleted(c) => {
                o.answered += 1;
                o.degraded += u64::from(c.degraded);
            }
            Event::AiRequestServedFromCache(_) => o.from_cache += 1,
            Event::AiRequestThrottled(_) => o.throttled += 1,
            Event::AiRequestFailed(_) => o.failed += 1,
            _ => continue,
        }
        have += 1;
        if reported.elapsed() >= Duration::from_secs(1) || have == want {
            eprintln!("  outcomes {have}/{want}");
            reported = Instant::now();
        }
    }
    drop(consumer);
    Ok(out)
}
