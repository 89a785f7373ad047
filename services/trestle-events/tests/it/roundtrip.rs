//! Every event type encodes and decodes back to an equal value.

use std::collections::BTreeSet;

use trestle_events::{decode, encode, registry, Event, Meta};
use uuid::Uuid;

use crate::samples;

fn check(event: &Event) {
    let bytes = encode(event).unwrap_or_else(|e| panic!("encode {}: {e:?}", event.name()));
    let back = decode(&bytes).unwrap_or_else(|e| panic!("decode {}: {e:?}", event.name()));
    assert_eq!(&back, event, "{} did not round-trip", event.name());
}

#[test]
fn every_event_type_round_trips_exactly() {
    for event in samples::all() {
        check(&event);
    }
}

#[test]
fn samples_cover_every_event_type() {
    let sampled: BTreeSet<&str> = samples::full().iter().map(Event::name).collect();
    let declared: BTreeSet<&str> = Event::NAMES.iter().copied().collect();
    let schemas: BTreeSet<&str> = registry().names().collect();
    assert_eq!(sampled, declared);
    assert_eq!(declared, schemas);
}

#[test]
fn root_meta_starts_a_chain_and_caused_by_continues_it() {
    let company = Uuid::new_v4();
    let root = Meta::root(company);
    assert_eq!(root.event_id.get_version_num(), 7);
    assert_eq!(root.correlation_id, root.event_id);
    assert_eq!(root.causation_id, root.event_id);
    assert_eq!(
        root.occurred_at.timestamp_subsec_nanos() % 1_000,
        0,
        "truncated to micros"
    );
    assert!(!root.is_platform());

    let child = Meta::caused_by(&root);
    assert_ne!(child.event_id, root.event_id);
    assert_eq!(child.event_id.get_version_num(), 7);
    assert_eq!(child.company_id, company);
    assert_eq!(child.correlation_id, root.event_id);
    assert_eq!(child.causation_id, root.event_id);

    let grandchild = Meta::caused_by(&child);
    assert_eq!(grandchild.correlation_id, root.event_id);
    assert_eq!(grandchild.causation_id, child.event_id);

    assert!(Meta::platform().is_platform());
}

#[test]
fn events_with_fresh_meta_round_trip() {
    let mut events = samples::full();
    for event in &mut events {
        *event.meta_mut() = Meta::root(Uuid::new_v4());
        check(event);
    }
}

#[test]
fn sub_microsecond_time_is_truncated_on_the_wire() {
    let mut event = samples::full().remove(0);
    let exact = event.meta().occurred_at;
    event.meta_mut().occurred_at = exact + chrono::Duration::nanoseconds(999);
    let back = decode(&encode(&event).unwrap()).unwrap();
    assert_eq!(back.meta().occurred_at, exact);
}

#[test]
fn events_serialize_to_json_with_a_type_tag_and_flat_meta() {
    for event in samples::all() {
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.name());
        assert_eq!(json["event_id"], event.meta().event_id.to_string());
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn every_event_knows_its_topic() {
    for event in samples::full() {
        let schema = registry().current(event.name()).unwrap();
        assert_eq!(event.topic(), schema.topic(), "{}", event.name());
        assert!(schema
            .path()
            .starts_with(&format!("{}/", event.topic().name())));
    }
}
