//! Waiting until the services' consumer groups have joined, so load is not sent (and timed)
//! while the engine and the projector are still starting.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use trestle_kafka::KafkaOptions;

/// Waits until every group in `groups` is `Stable` with at least one member, printing which
/// ones are still joining every few seconds. Errors name the groups that did not join and what
/// to look at.
pub fn wait_for_groups(
    kafka: &KafkaOptions,
    groups: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = kafka.client_config().create()?;
    let deadline = Instant::now() + timeout;
    let mut next_progress = Instant::now() + Duration::from_secs(3);
    loop {
        let mut joining = Vec::new();
        for group in groups {
            let list = consumer.fetch_group_list(Some(group), Duration::from_secs(5))?;
            let stable = list
                .groups()
                .iter()
                .any(|g| g.state() == "Stable" && !g.members().is_empty());
            if !stable {
                joining.push(group.as_str());
            }
        }
        if joining.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "consumer groups {} did not join within {} s; see the services' logs in .stack/demo/",
                joining.join(", "),
                timeout.as_secs()
            );
        }
        if Instant::now() >= next_progress {
            eprintln!("    still joining: {}", joining.join(", "));
            next_progress = Instant::now() + Duration::from_secs(3);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
