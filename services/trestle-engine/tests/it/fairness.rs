//! Invariant 4 over real Kafka: order per ordering key with a company's independent requests
//! side by side, and a quiet company served while a noisy one floods the same partition.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use trestle_events::{AiRequestKind, AiRequestSubmitted, Event, Tier};
use trestle_kafka::EventProducer;
use trestle_provider_sim::Behaviour;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{
    ask, by_request, config, publish_all, read_events, read_until, register, start_sim, Engine,
};

fn gemini_taking(latency_ms: u64) -> BTreeMap<String, Behaviour> {
    BTreeMap::from([(
        "gemini".to_string(),
        Behaviour {
            latency_ms,
            jitter_ms: 0,
            ..Behaviour::default()
        },
    )])
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_sharing_an_ordering_key_run_in_log_order_while_independent_ones_overlap() {
    let topics = TestTopics::create("engine_order", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(gemini_taking(300)).await;
    let company = Uuid::now_v7();
    register(&producer, company, Tier::Enterprise).await;
    // Interleaved in the log: six steps of one job, six independent questions.
    let mut keyed = Vec::new();
    let mut independent = Vec::new();
    let mut requests = Vec::new();
    for i in 0..6 {
        let step = ask(
            company,
            AiRequestKind::Chat,
            &format!("job step {i}"),
            Some("job-1"),
        );
        let question = ask(company, AiRequestKind::Chat, &format!("question {i}"), None);
        keyed.push(step.request_id);
        independent.push(question.request_id);
        requests.extend([step, question]);
    }
    publish_all(&producer, &requests).await;
    let engine = Engine::start(config(&topics, &sim));

    let outcomes = by_request(read_events(&topics, "ai-outcomes", 12).await);
    let finished = |id: &Uuid| match &outcomes[id] {
        Event::AiRequestCompleted(c) => c.meta.occurred_at,
        other => panic!("expected a completion, got {}", other.name()),
    };
    // Each job step finished at least one provider latency after the one before it in the log:
    // they ran one at a time, in order.
    for pair in keyed.windows(2) {
        let gap = finished(&pair[1]) - finished(&pair[0]);
        assert!(
            gap >= chrono::Duration::milliseconds(280),
            "job steps overlapped or ran out of order: gap {gap}"
        );
    }
    // The independent questions ran side by side: all six within far less than six latencies.
    let times: Vec<_> = independent.iter().map(finished).collect();
    let span = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    assert!(
        span < chrono::Duration::milliseconds(900),
        "independent questions did not overlap: they finished over {span}"
    );
    engine.stop().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quiet_company_is_served_while_a_noisy_one_floods_its_partition() {
    let topics = TestTopics::create("engine_noisy", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(gemini_taking(50)).await;
    let noisy = Uuid::now_v7();
    let quiet: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    // The flood is first in the log; the quiet companies' questions come after all of it.
    let mut requests: Vec<AiRequestSubmitted> = (0..600)
        .map(|i| ask(noisy, AiRequestKind::Chat, &format!("flood {i}"), None))
        .collect();
    for &company in &quiet {
        for i in 0..3 {
            requests.push(ask(
                company,
                AiRequestKind::Chat,
                &format!("quiet {i}"),
                None,
            ));
        }
    }
    publish_all(&producer, &requests).await;
    let quiet_ids: BTreeSet<Uuid> = requests[600..].iter().map(|r| r.request_id).collect();

    let mut config = config(&topics, &sim);
    config.scheduler.max_in_flight = 8;
    let engine = Engine::start(config);
    let outcomes = read_until(&topics, "ai-outcomes", Duration::from_secs(90), |events| {
        let served: BTreeSet<Uuid> = events.iter().map(crate::support::request_id).collect();
        quiet_ids.is_subset(&served)
    })
    .await;
    let noisy_served = outcomes
        .iter()
        .filter(|e| e.meta().company_id == noisy)
        .count();
    // In log order the quiet questions would wait for all 600; the noisy company, capped at two
    // in flight, has had a few dozen answered when the quiet ones are all done.
    assert!(
        noisy_served < 300,
        "the quiet companies waited for {noisy_served} of the flood's 600 requests"
    );
    engine.crash().await;
    topics.delete().await;
}
