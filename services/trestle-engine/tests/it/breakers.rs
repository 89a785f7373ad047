//! Invariant 6: a failing provider's circuit opens, calls go to the next provider without
//! trying it, and it half-opens and closes after a successful probe — each transition an event.

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_breaker::BreakerOptions;
use trestle_events::{AiRequestKind, Event};
use trestle_kafka::EventProducer;
use trestle_provider_sim::Behaviour;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{
    ask, by_request, config, down, provider_calls, publish_all, read_events, set_provider,
    start_sim, Engine,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_provider_opens_its_circuit_and_a_good_probe_closes_it_each_an_event() {
    let topics = TestTopics::create("engine_breaker", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::from([("gemini".to_string(), down())])).await;
    let mut config = config(&topics, &sim);
    config.breakers.providers.insert(
        "gemini".into(),
        BreakerOptions {
            minimum_calls: 4,
            open_duration_ms: 1_000,
            max_open_duration_ms: 1_000,
            half_open_probes: 1,
            ..BreakerOptions::default()
        },
    );
    let company = Uuid::now_v7();
    let chat = |i: usize| ask(company, AiRequestKind::Chat, &format!("q{i}"), Some("k"));
    // Four failures open Gemini's circuit; the next four go to OpenAI without calling it.
    let first: Vec<_> = (0..8).map(chat).collect();
    publish_all(&producer, &first).await;
    let engine = Engine::start(config);

    let outcomes = by_request(read_events(&topics, "ai-outcomes", 8).await);
    for r in &first {
        let Event::AiRequestCompleted(c) = &outcomes[&r.request_id] else {
            panic!("the fallback answers")
        };
        assert_eq!(c.provider, "openai");
    }
    assert_eq!(
        provider_calls(&sim).await.get("gemini"),
        Some(&4),
        "no calls while open"
    );
    let opened = read_events(&topics, "providers", 1).await;
    let Event::ProviderCircuitOpened(o) = &opened[0] else {
        panic!("expected the circuit to open, got {}", opened[0].name())
    };
    assert_eq!(
        (o.provider.as_str(), o.cloud_project_id.as_str()),
        ("gemini", "shared-0")
    );
    assert_eq!((o.failure_rate, o.window_calls), (1.0, 4));

    // Gemini recovers; once the open time is over the next request probes it and closes it.
    set_provider(
        &sim,
        "gemini",
        Behaviour {
            latency_ms: 1,
            jitter_ms: 0,
            ..Behaviour::default()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let probe = chat(100);
    publish_all(&producer, std::slice::from_ref(&probe)).await;
    let transitions = read_events(&topics, "providers", 3).await;
    let names: Vec<&str> = transitions.iter().map(Event::name).collect();
    assert_eq!(
        names,
        [
            "ProviderCircuitOpened",
            "ProviderCircuitHalfOpened",
            "ProviderCircuitClosed"
        ],
        "every transition, in order, on one partition (key provider/project/region)"
    );
    let outcomes = by_request(read_events(&topics, "ai-outcomes", 9).await);
    let Event::AiRequestCompleted(c) = &outcomes[&probe.request_id] else {
        panic!("the probe is answered")
    };
    assert_eq!((c.provider.as_str(), c.degraded), ("gemini", false));
    engine.stop().await;
    topics.delete().await;
}
