//! `POST /v1/companies` on the admin listener: a registration is on the `tenants` topic, keyed
//! by the new company, in its country's region, before the 201; bad input gets a 422 naming the
//! field and puts nothing on the log.

use std::time::Duration;

use serde_json::{json, Value};
use trestle_events::{Event, IsolationLevel, Region, Tier};
use trestle_ingest::{IngestConfig, Registered};
use trestle_tenants::RegionTable;
use trestle_testkit::TestTopics;

use crate::start_with;

#[tokio::test(flavor = "multi_thread")]
async fn a_registered_company_is_on_the_log_keyed_by_its_new_id_in_its_countrys_region() {
    let topics = TestTopics::create("ingest_register", 3).await.unwrap();
    // The configured table decides: ZA is in no default region, here it is in eu.
    let regions =
        RegionTable::new([("DE", Region::Eu), ("JP", Region::Apac), ("ZA", Region::Eu)]).unwrap();
    let started = start_with(
        &topics,
        IngestConfig {
            regions,
            ..IngestConfig::default()
        },
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/companies", started.admin);
    let bodies = [
        json!({"name": "Bau & Söhne GmbH", "country": "de", "tier": "enterprise",
               "isolation": "dedicated"}),
        json!({"name": "Shimizu Kōmuten", "country": "JP", "tier": "starter"}),
        json!({"name": "Cape Build", "country": "za", "tier": "premium", "isolation": "shared"}),
    ];
    let mut answers = Vec::new();
    for body in &bodies {
        let resp = http
            .post(&url)
            .header("authorization", crate::admin_bearer())
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{body}");
        let answer: Registered = resp.json().await.unwrap();
        assert_eq!(answer.status, "registered");
        assert_eq!(
            answer.company_id.get_version_num(),
            7,
            "company ids are UUIDv7"
        );
        answers.push(answer);
    }
    let regions: Vec<Region> = answers.iter().map(|a| a.region).collect();
    assert_eq!(regions, [Region::Eu, Region::Apac, Region::Eu]);

    let records = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("tenants"),
        3,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(records.len(), 3, "one event per registration");
    let expected = [
        (
            "Bau & Söhne GmbH",
            "DE",
            Tier::Enterprise,
            IsolationLevel::Dedicated,
        ),
        (
            "Shimizu Kōmuten",
            "JP",
            Tier::Starter,
            IsolationLevel::Shared,
        ),
        ("Cape Build", "ZA", Tier::Premium, IsolationLevel::Shared),
    ];
    for (answer, (name, country, tier, isolation)) in answers.iter().zip(expected) {
        let key = answer.company_id.to_string();
        let record = records
            .iter()
            .find(|r| r.key.as_deref() == Some(key.as_bytes()))
            .unwrap_or_else(|| panic!("no record keyed {key}"));
        let Event::CompanyRegistered(event) =
            trestle_events::decode(record.payload.as_deref().unwrap()).unwrap()
        else {
            panic!("expected CompanyRegistered")
        };
        assert_eq!(event.meta.company_id, answer.company_id);
        assert_eq!(event.region, answer.region);
        assert_eq!(
            (
                event.name.as_str(),
                event.country.as_str(),
                event.tier,
                event.isolation
            ),
            (name, country, tier, isolation)
        );
    }

    // Upstream apps cannot register companies: the route is only on the admin listener.
    let public = http
        .post(format!("{}/v1/companies", started.api))
        .json(&bodies[1])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    topics.delete().await;
}

/// Each bad body, the status it must get, its error, and a word its detail must contain.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_registration_gets_a_422_naming_the_field_and_nothing_is_published() {
    let topics = TestTopics::create("ingest_register_bad", 1).await.unwrap();
    let started = start_with(&topics, IngestConfig::default()).await;
    let url = format!("{}/v1/companies", started.admin);
    let ok = |name: &str, country: &str, tier: &str| json!({"name": name, "country": country, "tier": tier});
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        ("not json", "{\"name\": ".into(), 400, "malformed_json", ""),
        (
            "bad tier",
            ok("Acme", "DE", "gold").to_string(),
            422,
            "invalid_field",
            "tier",
        ),
        (
            "unknown tier",
            ok("Acme", "DE", "unknown").to_string(),
            422,
            "invalid_field",
            "tier",
        ),
        (
            "tier not a string",
            json!({"name": "Acme", "country": "DE", "tier": 3}).to_string(),
            422,
            "invalid_field",
            "tier",
        ),
        (
            "malformed country",
            ok("Acme", "DEU", "premium").to_string(),
            422,
            "invalid_field",
            "country",
        ),
        (
            "unknown country",
            ok("Acme", "ZA", "premium").to_string(),
            422,
            "unknown_country",
            "ZA",
        ),
        (
            "empty name",
            ok("  ", "DE", "premium").to_string(),
            422,
            "invalid_field",
            "name",
        ),
        (
            "long name",
            ok(&"x".repeat(201), "DE", "premium").to_string(),
            422,
            "invalid_field",
            "name",
        ),
        (
            "missing tier",
            json!({"name": "Acme", "country": "DE"}).to_string(),
            422,
            "invalid_field",
            "tier",
        ),
        (
            "unknown field",
            json!({"name": "Acme", "country": "DE", "tier": "premium", "region": "eu"}).to_string(),
            422,
            "invalid_field",
            "region",
        ),
        (
            "dedicated for premium",
            json!({"name": "Acme", "country": "DE", "tier": "premium", "isolation": "dedicated"})
                .to_string(),
            422,
            "invalid_field",
            "isolation",
        ),
        (
            "bad isolation",
            json!({"name": "Acme", "country": "DE", "tier": "enterprise", "isolation": "private"})
                .to_string(),
            422,
            "invalid_field",
            "isolation",
        ),
    ];
    let http = reqwest::Client::new();
    for (case, body, status, error, mentions) in cases {
        let resp = http
            .post(&url)
            .header("authorization", crate::admin_bearer())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{case}");
        let text = resp.text().await.unwrap();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{case}: JSON error body, got {text}"));
        assert_eq!(v["code"], error, "{case}: {v}");
        let detail = v["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(mentions), "{case}: {v}");
    }
    let end = trestle_testkit::end_offsets(&topics.options, &topics.topic("tenants")).unwrap();
    assert!(
        end.iter().all(|(_, high)| *high == 0),
        "nothing was published: {end:?}"
    );
    topics.delete().await;
}
