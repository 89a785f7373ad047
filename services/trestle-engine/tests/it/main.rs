//! The engine over real Kafka and real HTTP to the provider simulator.

mod sigkill;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use trestle_engine::EngineConfig;
use trestle_events::{AiRequestKind, AiRequestSubmitted, Event, Meta};
use trestle_kafka::EventProducer;
use trestle_provider_sim::{Behaviour, SimConfig};
use trestle_testkit::{read_topic, TestTopics};
use uuid::Uuid;

pub(crate) async fn start_sim(providers: BTreeMap<String, Behaviour>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = SimConfig {
        default: Behaviour {
            latency_ms: 5,
            jitter_ms: 5,
            ..Behaviour::default()
        },
        providers,
        ..SimConfig::default()
    };
    tokio::spawn(async move {
        trestle_provider_sim::serve(listener, &config, std::future::pending()).await
    });
    format!("http://{addr}")
}

fn start_engine(topics: &TestTopics, sim: String) -> tokio::sync::oneshot::Sender<()> {
    let mut config = EngineConfig {
        kafka: topics.options.clone(),
        group_id: topics.group("engine"),
        ..EngineConfig::default()
    };
    config.provider.base_url = sim;
    config.provider.retry_initial_ms = 5;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(trestle_engine::run(config, async {
        let _ = stopped.await;
    }));
    stop
}

pub(crate) fn request(company: Uuid, kind: AiRequestKind) -> Event {
    Event::AiRequestSubmitted(AiRequestSubmitted {
        meta: Meta::root(company),
        request_id: Uuid::now_v7(),
        user_id: "u-1".into(),
        kind,
        prompt: "Summarise today's site diary".into(),
        ordering_key: None,
        job_id: None,
        submitted_via: "test".into(),
        document_ids: vec![],
    })
}

pub(crate) fn decode_all(records: &[trestle_testkit::ReadRecord]) -> Vec<Event> {
    records
        .iter()
        .map(|r| trestle_events::decode(r.payload.as_deref().unwrap()).unwrap())
        .collect()
}

pub(crate) fn request_id(e: &Event) -> Uuid {
    match e {
        Event::AiRequestCompleted(c) => c.request_id,
        Event::AiRequestFailed(f) => f.request_id,
        Event::UsageRecorded(u) => u.request_id,
        other => panic!("unexpected {}", other.name()),
    }
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
    let stop = start_engine(&topics, start_sim(BTreeMap::new()).await);

    let settle = Duration::from_secs(2);
    let outcomes = read_topic(
        &topics.options,
        &topics.topic("ai-outcomes"),
        300,
        Duration::from_secs(90),
        settle,
    )
    .await;
    let usage = read_topic(
        &topics.options,
        &topics.topic("usage"),
        300,
        Duration::from_secs(30),
        settle,
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
    drop(stop);
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
    let stop = start_engine(&topics, start_sim(BTreeMap::new()).await);

    let dead = read_topic(
        &topics.options,
        &topics.topic("dead-letter"),
        1,
        Duration::from_secs(60),
        Duration::ZERO,
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
        Duration::ZERO,
    )
    .await;
    assert_eq!(
        request_id(&decode_all(&outcomes)[0]),
        request_id_of_submitted(&good)
    );
    drop(stop);
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_outage_gives_a_failed_outcome_and_no_usage() {
    let topics = TestTopics::create("engine_outage", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let down = Behaviour {
        down: true,
        latency_ms: 0,
        jitter_ms: 0,
        ..Behaviour::default()
    };
    let sim = start_sim(BTreeMap::from([("gemini".to_string(), down)])).await;
    let failing = request(Uuid::now_v7(), AiRequestKind::Chat);
    let fine = request(Uuid::now_v7(), AiRequestKind::NotebookQuery);
    producer.publish(&failing).await.unwrap();
    producer.publish(&fine).await.unwrap();
    let stop = start_engine(&topics, sim);

    let outcomes = decode_all(
        &read_topic(
            &topics.options,
            &topics.topic("ai-outcomes"),
            2,
            Duration::from_secs(60),
            Duration::from_secs(1),
        )
        .await,
    );
    let failed = outcomes.iter().find_map(|e| match e {
        Event::AiRequestFailed(f) => Some(f.clone()),
        _ => None,
    });
    let failed = failed.expect("a failed outcome");
    assert_eq!(failed.request_id, request_id_of_submitted(&failing));
    assert!(failed.reason.contains("503"), "{}", failed.reason);
    assert!(failed.retryable);
    let usage = decode_all(
        &read_topic(
            &topics.options,
            &topics.topic("usage"),
            1,
            Duration::from_secs(30),
            Duration::from_secs(1),
        )
        .await,
    );
    assert_eq!(usage.len(), 1, "only the served request is billed");
    assert_eq!(request_id(&usage[0]), request_id_of_submitted(&fine));
    drop(stop);
    topics.delete().await;
}
