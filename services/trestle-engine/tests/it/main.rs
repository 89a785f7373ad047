//! The engine over real Kafka and real HTTP to the provider simulator.

mod breakers;
mod duplicates;
mod fairness;
mod federation;
mod ladder;
mod notebook_routing;
mod onboarded;
mod panic;
mod pricing;
mod restart;
mod sigkill;
mod sigterm;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use trestle_events::{AiRequestKind, Event};
use trestle_kafka::EventProducer;
use trestle_testkit::{read_topic, TestTopics};
use uuid::Uuid;

use support::{config, decode_all, down, request, request_id, start_sim, Engine};

fn start_engine(topics: &TestTopics, sim: String) -> Engine {
    Engine::start(config(topics, &sim))
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_each_request_once_with_its_outcome_and_priced_usage() {
    let topics = TestTopics::create("engine_ok", 3).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let companies: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    let kinds = [
        AiRequestKind::Chat,
        AiRequestKind::Summary,
        AiRequestKind::NotebookQuery,
    ];
    let requests: Vec<Event> = (0..300)
        .map(|i| request(companies[i % 20], kinds[i % 3]))
        .collect();
    for r in &requests {
        producer.publish(r).await.unwrap();
    }
    let _engine = start_engine(&topics, start_sim(BTreeMap::new()).await);

    let outcomes = read_topic(
        &topics.options,
        &topics.topic("ai-outcomes"),
        300,
        Duration::from_secs(90),
    )
    .await;
    let usage = read_topic(
        &topics.options,
        &topics.topic("usage"),
        300,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(outcomes.len(), 300, "exactly one outcome per request");
    assert_eq!(usage.len(), 300, "exactly one usage record per request");

    let by_id: BTreeMap<Uuid, &Event> = requests
        .iter()
        .map(|e| (request_id_of_submitted(e), e))
        .collect();
    let outcome_events = decode_all(&outcomes);
    for (record, event) in outcomes.iter().zip(&outcome_events) {
        let Event::AiRequestCompleted(done) = event else {
            panic!("expected completions, got {}", event.name())
        };
        // No shard databases configured: a notebook question is not routed to a notebook.
        assert_eq!(done.answer_path, trestle_events::AnswerPath::Chat);
        assert!(done.cited_document_ids.is_empty());
        let submitted = by_id[&done.request_id].meta();
        assert_eq!(done.meta.company_id, submitted.company_id);
        assert_eq!(done.meta.causation_id, submitted.event_id);
        assert_eq!(done.meta.correlation_id, submitted.correlation_id);
        assert_eq!(
            record.key.as_deref(),
            Some(submitted.company_id.to_string().as_bytes())
        );
        assert!(done.cost_micro_usd > 0);
    }
    let mut ids: Vec<Uuid> = outcome_events.iter().map(request_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 300, "no request answered twice");
    for event in decode_all(&usage) {
        let Event::UsageRecorded(u) = event else {
            panic!("expected usage")
        };
        assert_eq!(u.idempotency_key, format!("{}:{}", u.request_id, u.meter));
        assert!(by_id.contains_key(&u.request_id));
    }
    topics.delete().await;
}

fn request_id_of_submitted(e: &Event) -> Uuid {
    match e {
        Event::AiRequestSubmitted(s) => s.request_id,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_request_goes_to_dead_letter_and_the_partition_keeps_moving() {
    let topics = TestTopics::create("engine_dlq", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let company = Uuid::now_v7();
    let topic = topics.topic("ai-requests");
    let key = company.to_string();
    let garbage = vec![0xC3, 0x01, 1, 2, 3];
    let bad = producer
        .client()
        .send(
            FutureRecord::to(&topic).key(&key).payload(&garbage),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let good = request(company, AiRequestKind::Chat);
    producer.publish(&good).await.unwrap();
    let _engine = start_engine(&topics, start_sim(BTreeMap::new()).await);

    let dead = read_topic(
        &topics.options,
        &topics.topic("dead-letter"),
        1,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(dead[0].payload.as_deref(), Some(&garbage[..]));
    let header = |k: &str| {
        dead[0]
            .headers
            .iter()
            .find(|(key, _)| key == k)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(header("trestle.dlq.topic"), topic);
    assert_eq!(header("trestle.dlq.partition"), bad.partition.to_string());
    assert_eq!(header("trestle.dlq.offset"), bad.offset.to_string());
    assert!(!header("trestle.dlq.error").is_empty());

    let outcomes = read_topic(
        &topics.options,
        &topics.topic("ai-outcomes"),
        1,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        request_id(&decode_all(&outcomes)[0]),
        request_id_of_submitted(&good)
    );
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_provider_falls_back_along_the_chain_and_is_billed_on_the_fallback() {
    let topics = TestTopics::create("engine_fallback", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::from([("gemini".to_string(), down())])).await;
    let chat = request(Uuid::now_v7(), AiRequestKind::Chat);
    producer.publish(&chat).await.unwrap();
    let _engine = start_engine(&topics, sim);

    let outcomes = support::read_events(&topics, "ai-outcomes", 1).await;
    let Event::AiRequestCompleted(done) = &outcomes[0] else {
        panic!("expected a completion, got {}", outcomes[0].name())
    };
    assert_eq!(
        (done.provider.as_str(), done.degraded),
        ("openai", true),
        "the chat chain is gemini -> openai"
    );
    let usage = support::read_events(&topics, "usage", 1).await;
    assert_eq!(usage.len(), 1);
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_of_the_chain_down_gives_a_failed_outcome_naming_them_and_no_usage() {
    let topics = TestTopics::create("engine_outage", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::from([
        ("gemini".to_string(), down()),
        ("openai".to_string(), down()),
    ]))
    .await;
    let failing = request(Uuid::now_v7(), AiRequestKind::Chat);
    let fine = request(Uuid::now_v7(), AiRequestKind::NotebookQuery);
    producer.publish(&failing).await.unwrap();
    producer.publish(&fine).await.unwrap();
    let _engine = start_engine(&topics, sim);

    let outcomes = support::read_events(&topics, "ai-outcomes", 2).await;
    let failed = outcomes.iter().find_map(|e| match e {
        Event::AiRequestFailed(f) => Some(f.clone()),
        _ => None,
    });
    let failed = failed.expect("a failed outcome");
    assert_eq!(failed.request_id, request_id_of_submitted(&failing));
    assert!(
        failed.reason.contains("AI temporarily limited"),
        "{}",
        failed.reason
    );
    assert!(failed.reason.contains("503"), "{}", failed.reason);
    assert_eq!(failed.providers_tried, vec!["gemini", "openai"]);
    assert!(failed.retryable);
    let usage = support::read_events(&topics, "usage", 1).await;
    assert_eq!(usage.len(), 1, "only the served request is billed");
    assert_eq!(request_id(&usage[0]), request_id_of_submitted(&fine));
    topics.delete().await;
}
