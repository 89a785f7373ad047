//! Invariant 4's offsets: a slow record holds its partition's commit back, and the records
//! finished beyond it are remembered in the commit metadata, so a restart does not redo them.

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_events::AiRequestKind;
use trestle_kafka::EventProducer;
use trestle_provider_sim::Behaviour;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{
    answered_once, ask, committed, config, publish_all, start_sim, wait_for_watermark, Engine,
};

#[tokio::test(flavor = "multi_thread")]
async fn records_finished_beyond_a_slow_one_are_not_redone_after_a_crash() {
    let topics = TestTopics::create("engine_restart", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    // NotebookLM answers in 4 s, Gemini at once: the first request is still running when the
    // twenty after it (independent questions) have finished.
    let sim = start_sim(BTreeMap::from([(
        "notebooklm".to_string(),
        Behaviour {
            latency_ms: 4_000,
            jitter_ms: 0,
            ..Behaviour::default()
        },
    )]))
    .await;
    let company = Uuid::now_v7();
    let mut requests = vec![ask(company, AiRequestKind::NotebookQuery, "slow", None)];
    requests.extend((0..20).map(|i| ask(company, AiRequestKind::Chat, &format!("q{i}"), None)));
    publish_all(&producer, &requests).await;

    let mut config = config(&topics, &sim);
    config.instance_id = "engine-restart".into();
    config.scheduler.max_in_flight_per_company.starter = 32;
    let engine = Engine::start(config.clone());
    let (offset, metadata) = trestle_testkit::wait_for(
        "a commit holding the slow record with the twenty beyond it",
        Duration::from_secs(60),
        || async {
            committed(&topics).filter(|(o, m)| {
                let finished = trestle_scheduler::FinishedBeyond::decode(m).ok().flatten();
                *o == 0 && finished.is_some_and(|f| f.offsets.len() == 20)
            })
        },
    )
    .await;
    engine.crash().await;
    assert_eq!(offset, 0, "the unfinished first record holds the watermark");
    assert!(
        metadata.starts_with("f1:"),
        "finished-beyond metadata: {metadata}"
    );

    let engine = Engine::start(config);
    answered_once(&topics, &requests).await;
    wait_for_watermark(&topics, requests.len() as i64).await;
    engine.stop().await;
    topics.delete().await;
}
