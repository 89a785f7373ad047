//! One answer per request_id: a duplicate `AiRequestSubmitted` (an upstream retry that reached
//! the log, same request_id, its own event_id) is passed over — whether it arrives while the
//! first is in flight, right after it, or after an engine restart: one provider call, one
//! outcome, one usage record. The claim lives in the company's shard (`ai_request_claims`).
//! A request that was not answered (throttled) gives its request_id back, so a retry is served.

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_events::{
    AiRequestKind, AiRequestSubmitted, Event, IsolationLevel, Meta, Region, TenantProvisioned, Tier,
};
use trestle_kafka::EventProducer;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::{
    ask, config, provider_calls, publish_all, read_until, register, request_id, start_sim,
    wait_for_watermark, Engine,
};

/// A company registered and provisioned to shard 0.
async fn provisioned_company(producer: &EventProducer) -> Uuid {
    let company = Uuid::now_v7();
    register(producer, company, Tier::Professional).await;
    let provisioned = Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Us,
        database_shard: 0,
        cloud_project_id: "us-1".into(),
        isolation_level: IsolationLevel::Shared,
        kb_notebook_id: String::new(),
    });
    producer.publish(&provisioned).await.unwrap();
    company
}

/// The same request submitted again: a new event (event_id, time), the same request_id.
fn retry(first: &AiRequestSubmitted) -> AiRequestSubmitted {
    AiRequestSubmitted {
        meta: Meta::root(first.meta.company_id),
        ..first.clone()
    }
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

/// Outcomes (and, separately, usage) per request id, once every record is committed.
async fn counted(topics: &TestTopics, logical: &str, expected: usize) -> BTreeMap<Uuid, usize> {
    let events = read_until(topics, logical, Duration::from_secs(60), |e| {
        e.len() >= expected
    })
    .await;
    let mut counts = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| !matches!(e, Event::AiRequestRerouted(_)))
    {
        *counts.entry(request_id(e)).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_request_id_is_answered_once_in_flight_back_to_back_and_after_a_restart() {
    let topics = TestTopics::create("engine_duplicates", 1).await.unwrap();
    let shard = TestDb::shard("engine_duplicates").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let company = provisioned_company(&producer).await;
    let mut config = config(&topics, &sim);
    config.shards = vec![shard.options.clone()];
    config.unprovisioned = trestle_engine::Unprovisioned::Refuse;
    config.provisioning_wait_ms = 10_000;
    config.instance_id = trestle_testkit::unique("engine-duplicates");
    config.scheduler.max_in_flight_per_company.professional = 8;

    // Three copies of one request before the engine starts: polled together, run at once.
    let first = ask(
        company,
        AiRequestKind::Chat,
        "What is due on site today?",
        None,
    );
    let other = ask(company, AiRequestKind::Chat, "Who signed the permit?", None);
    publish_all(
        &producer,
        &[first.clone(), retry(&first), retry(&first), other.clone()],
    )
    .await;
    let engine = Engine::start(config.clone());
    wait_for_watermark(&topics, 4).await;
    // Back to back: the same request again once it was answered.
    publish_all(&producer, &[retry(&first)]).await;
    wait_for_watermark(&topics, 5).await;
    engine.stop().await;

    // After a restart (the claim is durable, not the engine's memory).
    let last = ask(
        company,
        AiRequestKind::Chat,
        "Is the crane inspected?",
        None,
    );
    publish_all(&producer, &[retry(&first), last.clone()]).await;
    let engine = Engine::start(config);
    wait_for_watermark(&topics, 7).await;
    engine.stop().await;

    let outcomes = counted(&topics, "ai-outcomes", 3).await;
    let expected = BTreeMap::from([
        (first.request_id, 1),
        (other.request_id, 1),
        (last.request_id, 1),
    ]);
    assert_eq!(outcomes, expected, "one outcome per request_id");
    let usage = counted(&topics, "usage", 3).await;
    assert_eq!(usage, expected, "one usage record per request_id");
    assert_eq!(
        total(&provider_calls(&sim).await),
        3,
        "one provider call per request_id"
    );
    let pool = trestle_store::connect(&shard.options).await.unwrap();
    let mut tx = trestle_store::begin_for_tenant(&pool, company)
        .await
        .unwrap();
    let owner: (i32, i64) = sqlx::query_as(
        "SELECT source_partition, source_offset FROM ai_request_claims WHERE request_id = $1",
    )
    .bind(first.request_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // The three copies ran at once; whichever claimed first owns it — one of them.
    assert!(owner.0 == 0 && (0..3).contains(&owner.1), "owner {owner:?}");
    let timers = read_until(&topics, "timers", Duration::from_secs(30), |e| {
        !e.is_empty()
    })
    .await;
    let Event::TimerScheduled(timer) = &timers[0] else {
        panic!(
            "expected the answers' expiry timer, got {}",
            timers[0].name()
        );
    };
    let today = first.meta.occurred_at.date_naive();
    assert_eq!(timer.timer_id, format!("ai-requests/retention/{today}"));
    topics.delete().await;
}

/// The shard's claim on `request`, if any (its owner's offset).
async fn claim(pool: &sqlx::PgPool, company: Uuid, request: Uuid) -> Option<i64> {
    let mut tx = trestle_store::begin_for_tenant(pool, company)
        .await
        .unwrap();
    let offset =
        sqlx::query_scalar("SELECT source_offset FROM ai_request_claims WHERE request_id = $1")
            .bind(request)
            .fetch_optional(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    offset
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_was_not_answered_gives_its_request_id_back_for_a_retry() {
    let topics = TestTopics::create("engine_claim_back", 1).await.unwrap();
    let shard = TestDb::shard("engine_claim_back").await.unwrap();
    let pool = trestle_store::connect(&shard.options).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let company = provisioned_company(&producer).await;
    let mut config = config(&topics, &sim);
    config.shards = vec![shard.options.clone()];
    config.unprovisioned = trestle_engine::Unprovisioned::Refuse;
    config.provisioning_wait_ms = 10_000;
    // Over its monthly query limit at first: throttled, no provider call.
    let mut limited = config.clone();
    let none = trestle_engine::LimitOverride {
        queries_per_month: Some(0),
        cost_micro_usd_per_month: None,
    };
    limited.cost_limits.overrides.insert(company, none);

    let first = ask(company, AiRequestKind::Chat, "Is the slab poured?", None);
    publish_all(&producer, std::slice::from_ref(&first)).await;
    let engine = Engine::start(limited);
    wait_for_watermark(&topics, 1).await;
    engine.stop().await;
    assert_eq!(
        claim(&pool, company, first.request_id).await,
        None,
        "given back"
    );

    // The retry, once the limit is lifted, is served — and keeps the request_id.
    publish_all(&producer, &[retry(&first)]).await;
    let engine = Engine::start(config);
    wait_for_watermark(&topics, 2).await;
    engine.stop().await;
    let outcomes = read_until(&topics, "ai-outcomes", Duration::from_secs(30), |e| {
        e.len() >= 2
    })
    .await;
    assert!(
        matches!(outcomes[0], Event::AiRequestThrottled(_)),
        "first: {}",
        outcomes[0].name()
    );
    assert!(
        matches!(outcomes[1], Event::AiRequestCompleted(_)),
        "retry: {}",
        outcomes[1].name()
    );
    assert_eq!(total(&provider_calls(&sim).await), 1);
    assert_eq!(
        claim(&pool, company, first.request_id).await,
        Some(1),
        "the retry owns it"
    );
    topics.delete().await;
}
