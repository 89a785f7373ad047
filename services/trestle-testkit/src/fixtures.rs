//! Events as tests publish them: a registered company, a usage increment, an event moved in
//! time, and publishing many at once or one at a time.

use chrono::{DateTime, Utc};
use trestle_events::{
    CompanyRegistered, Event, IsolationLevel, Meta, Meter, Region, Tier, UsageRecorded,
};
use trestle_kafka::EventProducer;
use uuid::Uuid;

/// A company registered now in `region` with `tier` and shared capacity, named after its id;
/// set other fields with struct update syntax
/// (`CompanyRegistered { name: "Acme".into(), ..registered(…) }`).
pub fn registered(company: Uuid, tier: Tier, region: Region) -> CompanyRegistered {
    let country = match region {
        Region::Eu => "DE",
        Region::Apac => "AU",
        _ => "US",
    };
    CompanyRegistered {
        meta: Meta::root(company),
        name: format!("Company {company}"),
        tier,
        country: country.into(),
        region,
        isolation: IsolationLevel::Shared,
    }
}

/// One usage increment of `request_id` on `meter`, priced at `cost_micro_usd`, with price book
/// version 1 and the idempotency key the engine would give it.
pub fn usage(
    company: Uuid,
    request_id: Uuid,
    meter: Meter,
    quantity_milli: i64,
    cost_micro_usd: i64,
) -> Event {
    Event::UsageRecorded(UsageRecorded {
        meta: Meta::root(company),
        request_id,
        meter,
        quantity_milli,
        cost_micro_usd,
        price_book_version: 1,
        idempotency_key: UsageRecorded::idempotency_key_for(request_id, meter),
    })
}

/// `event` as if it had happened at `when`.
pub fn at(mut event: Event, when: DateTime<Utc>) -> Event {
    event.meta_mut().occurred_at = when;
    event
}

/// Publishes `events` concurrently ([`EventProducer::publish_all`]: each company's events stay
/// in the given order) and fails the test if one is refused.
pub async fn publish_all(producer: &EventProducer, events: &[Event]) {
    if let Err(e) = producer.publish_all(events).await {
        panic!("publishing {} events: {e}", events.len());
    }
}

/// Publishes `events` one at a time, each acknowledged before the next is sent.
pub async fn publish_in_order(producer: &EventProducer, events: &[Event]) {
    for event in events {
        if let Err(e) = producer.publish(event).await {
            panic!("publishing {}: {e}", event.name());
        }
    }
}
