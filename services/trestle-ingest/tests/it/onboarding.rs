//! Ingest refuses the AI requests of companies onboarding has not provisioned: 409 naming the
//! standing (not registered; registered, not provisioned yet), nothing published — and accepts
//! them once the provisioning is on the log.

use std::time::Duration;

use serde_json::{json, Value};
use trestle_events::{
    CompanyRegistered, Event, IsolationLevel, Meta, Region, TenantProvisioned, Tier,
};
use trestle_ingest::IngestConfig;
use trestle_kafka::EventProducer;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::start_with;

fn registered(company: Uuid) -> Event {
    Event::CompanyRegistered(CompanyRegistered {
        meta: Meta::root(company),
        name: "Acme Bau".into(),
        tier: Tier::Premium,
        country: "DE".into(),
        region: Region::Eu,
        isolation: IsolationLevel::Shared,
    })
}

fn provisioned(company: Uuid) -> Event {
    Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Eu,
        database_shard: 0,
        cloud_project_id: "eu-1".into(),
        isolation_level: IsolationLevel::Shared,
        kb_notebook_id: String::new(),
    })
}

async fn submit(url: &str, company: Uuid) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("authorization", crate::bearer(company))
        .json(
            &json!({"company_id": company, "user_id": "u-1", "kind": "chat",
                      "prompt": "Which RFIs are open?"}),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_of_companies_not_provisioned_get_409_naming_their_standing() {
    let topics = TestTopics::create("ingest_onboarding", 2).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (unknown, waiting, ready) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for event in [registered(waiting), registered(ready), provisioned(ready)] {
        producer.publish(&event).await.unwrap();
    }
    let started = start_with(&topics, IngestConfig::default()).await;
    let url = format!("{}/v1/ai-requests", started.api);

    let ready_answer = trestle_testkit::wait_for(
        "ingest to read the provisioning",
        Duration::from_secs(30),
        || async {
            let (status, body) = submit(&url, ready).await;
            (status == 202).then_some(body)
        },
    )
    .await;
    assert_eq!(ready_answer["status"], "accepted");
    let (status, body) = submit(&url, unknown).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("company_not_registered"))
    );
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains(&unknown.to_string()));
    let (status, body) = submit(&url, waiting).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("company_not_provisioned"))
    );

    // Nothing of the refused companies is on the log.
    let requests = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("ai-requests"),
        1,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(requests.len(), 1, "only the provisioned company's request");

    // Once onboarding provisions it, the waiting company's requests are accepted.
    producer.publish(&provisioned(waiting)).await.unwrap();
    trestle_testkit::wait_for(
        "the provisioning to be read",
        Duration::from_secs(30),
        || async { (submit(&url, waiting).await.0 == 202).then_some(()) },
    )
    .await;
    topics.delete().await;
}
