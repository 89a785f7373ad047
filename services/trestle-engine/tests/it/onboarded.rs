//! Only provisioned companies are served: a request of a company that is not registered, or
//! registered but not provisioned yet, fails with a reason naming its standing — no provider
//! call, no usage — while a provisioned company's request is answered and billed.

use std::collections::BTreeMap;

use trestle_events::{AiRequestKind, Event, IsolationLevel, Meta, Region, TenantProvisioned, Tier};
use trestle_kafka::EventProducer;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{
    by_request, config, provider_calls, read_events, register, request, start_sim, Engine,
};

fn provisioned(company: Uuid) -> Event {
    Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Us,
        database_shard: 0,
        cloud_project_id: "us-1".into(),
        isolation_level: IsolationLevel::Shared,
        kb_notebook_id: String::new(),
    })
}

fn submitted_id(e: &Event) -> Uuid {
    match e {
        Event::AiRequestSubmitted(s) => s.request_id,
        other => panic!("not a request: {}", other.name()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_provisioned_companies_are_served_the_others_fail_naming_their_standing() {
    let topics = TestTopics::create("engine_onboarded", 2).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let (unknown, registered, ready) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    register(&producer, registered, Tier::Premium).await;
    register(&producer, ready, Tier::Premium).await;
    producer.publish(&provisioned(ready)).await.unwrap();
    let mut config = config(&topics, &sim);
    config.unprovisioned = trestle_engine::Unprovisioned::Refuse;
    config.provisioning_wait_ms = 200;
    let _engine = Engine::start(config);

    let requests = [
        request(unknown, AiRequestKind::Chat),
        request(registered, AiRequestKind::Chat),
        request(ready, AiRequestKind::Chat),
    ];
    for r in &requests {
        producer.publish(r).await.unwrap();
    }
    let outcomes = by_request(read_events(&topics, "ai-outcomes", 3).await);
    let failed = |i: usize| match &outcomes[&submitted_id(&requests[i])] {
        Event::AiRequestFailed(f) => (f.reason.clone(), f.retryable, f.providers_tried.len()),
        other => panic!("expected a failed outcome, got {}", other.name()),
    };
    let (reason, retryable, tried) = failed(0);
    assert!(
        reason.contains(&format!("company {unknown} is not registered")),
        "{reason}"
    );
    assert_eq!((retryable, tried), (false, 0));
    let (reason, retryable, tried) = failed(1);
    assert!(
        reason.contains("registered, not provisioned yet"),
        "{reason}"
    );
    assert_eq!(
        (retryable, tried),
        (true, 0),
        "it can be retried once onboarded"
    );
    assert!(matches!(
        outcomes[&submitted_id(&requests[2])],
        Event::AiRequestCompleted(_)
    ));
    // One provider call and one usage record: the provisioned company's.
    let usage = read_events(&topics, "usage", 1).await;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].meta().company_id, ready);
    assert_eq!(provider_calls(&sim).await.values().sum::<u64>(), 1);

    // Once provisioned, the waiting company is served.
    producer.publish(&provisioned(registered)).await.unwrap();
    let again = request(registered, AiRequestKind::Chat);
    producer.publish(&again).await.unwrap();
    let outcomes = by_request(read_events(&topics, "ai-outcomes", 4).await);
    assert!(matches!(
        outcomes[&submitted_id(&again)],
        Event::AiRequestCompleted(_)
    ));
    topics.delete().await;
}
