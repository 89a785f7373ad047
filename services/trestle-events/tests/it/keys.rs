//! Record keys: the company for company events, the circuit on `providers`, a constant on
//! `price-books`, the project on `cloud-projects` — what `topics.toml` declares for each topic.

use trestle_events::{company_key, Event, Topic, PRICE_BOOK_KEY};

use crate::samples;

#[test]
fn company_events_are_keyed_by_the_canonical_company_uuid() {
    for event in samples::full() {
        if matches!(
            event.topic(),
            Topic::Providers | Topic::PriceBooks | Topic::CloudProjects
        ) {
            continue;
        }
        let key = event.key();
        assert_eq!(
            key,
            company_key(&event.meta().company_id),
            "{}",
            event.name()
        );
        assert_eq!(key, event.meta().company_id.hyphenated().to_string());
        assert_eq!(key, key.to_lowercase());
    }
}

#[test]
fn circuit_events_are_keyed_by_provider_project_and_region() {
    let keys: Vec<(&str, String)> = samples::full()
        .iter()
        .filter(|e| e.topic() == Topic::Providers)
        .map(|e| (e.name(), e.key()))
        .collect();
    assert_eq!(keys.len(), 3, "one sample per circuit event");
    for (name, key) in keys {
        assert_eq!(key, "gemini/trestle-eu-pool-003/eu", "{name}");
    }
}

#[test]
fn every_price_book_version_shares_one_key() {
    let books: Vec<Event> = samples::all()
        .into_iter()
        .filter(|e| e.topic() == Topic::PriceBooks)
        .collect();
    assert!(!books.is_empty());
    for book in books {
        assert_eq!(book.key(), PRICE_BOOK_KEY);
    }
}

#[test]
fn cloud_project_events_are_keyed_by_their_cloud_project() {
    let settings: Vec<Event> = samples::full()
        .into_iter()
        .filter(|e| e.topic() == Topic::CloudProjects)
        .collect();
    assert_eq!(settings.len(), 3, "one sample per cloud-project event");
    for event in settings {
        let project = match &event {
            Event::CloudProjectRegistered(e) => e.cloud_project_id.clone(),
            Event::CloudProjectMaintenanceSet(e) => e.cloud_project_id.clone(),
            Event::CloudProjectLimitSet(e) => e.cloud_project_id.clone(),
            other => panic!("{} is not an operator setting", other.name()),
        };
        assert_eq!(event.key(), project, "{}", event.name());
    }
}
