//! A request task that panics (a bug) still ends its record: the request gets a failed outcome
//! with the internal-error reason, later requests of the same company and ordering key are
//! served, and the partition's commit point moves past it.

use std::collections::BTreeMap;

use trestle_events::{AiRequestKind, Event};
use trestle_kafka::EventProducer;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{
    answered_once, ask, config, publish_all, start_sim, wait_for_watermark, Engine,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_request_task_fails_its_request_and_the_partition_keeps_committing() {
    let topics = TestTopics::create("engine_panic", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let company = Uuid::now_v7();
    let key = Some("thread-1");
    let requests = vec![
        ask(company, AiRequestKind::Chat, "panic here", key),
        ask(company, AiRequestKind::Chat, "after the panic", key),
        ask(company, AiRequestKind::Chat, "and one more", key),
    ];
    publish_all(&producer, &requests).await;

    let sim = start_sim(BTreeMap::new()).await;
    let mut config = config(&topics, &sim);
    config.provider.panic_on_prompt = Some("panic here".into());
    let engine = Engine::start(config);

    let outcomes = answered_once(&topics, &requests).await;
    let Event::AiRequestFailed(failed) = &outcomes[&requests[0].request_id] else {
        panic!("expected a failed outcome for the panicking request");
    };
    assert!(
        failed.reason.starts_with("internal error"),
        "{}",
        failed.reason
    );
    assert!(failed.retryable);
    for later in &requests[1..] {
        assert!(
            matches!(outcomes[&later.request_id], Event::AiRequestCompleted(_)),
            "a later request of the same company and ordering key is served"
        );
    }
    wait_for_watermark(&topics, requests.len() as i64).await;
    engine.stop().await;
    topics.delete().await;
}
