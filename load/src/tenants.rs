//! Registering the scenario's companies (with their tiers) on the `tenants` topic, so the
//! engine schedules and limits each by its tier.

use trestle_events::{CompanyRegistered, Event, Meta, Region};
use trestle_kafka::{EventProducer, KafkaOptions};

use crate::scenario::Scenario;

/// Publishes a `CompanyRegistered` per company and waits for every ack.
pub async fn register_companies(kafka: &KafkaOptions, scenario: &Scenario) -> anyhow::Result<()> {
    let producer = EventProducer::new(kafka)?;
    let events: Vec<Event> = scenario
        .companies
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Event::CompanyRegistered(CompanyRegistered {
                meta: Meta::root(c.id),
                name: format!("Construction company {i}"),
                tier: c.tier,
                country: "US".into(),
                region: Region::Us,
                isolation: trestle_events::IsolationLevel::Shared,
            })
        })
        .collect();
    producer.publish_all(&events).await?;
    Ok(())
}
