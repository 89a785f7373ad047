//! Invariant 3: SIGKILL of an engine instance mid-run neither duplicates nor loses an outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use trestle_events::{AiRequestKind, Event};
use trestle_kafka::EventProducer;
use trestle_provider_sim::Behaviour;
use trestle_testkit::{fixtures, read_topic, ChildGuard, TestTopics};
use uuid::Uuid;

use crate::support::{decode_all, request, request_id, start_sim};

pub(crate) fn start_engine(topics: &TestTopics, sim: &str) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_trestle-engine"))
        .env(
            "TRESTLE_KAFKA__BOOTSTRAP_SERVERS",
            &topics.options.bootstrap_servers,
        )
        .env("TRESTLE_KAFKA__TOPIC_PREFIX", &topics.options.topic_prefix)
        .env("TRESTLE_GROUP_ID", topics.group("engine"))
        // A stable identity: the restarted instance fences the killed one's open transaction
        // and takes its partitions back at once (static membership).
        .env("TRESTLE_INSTANCE_ID", "engine-under-test")
        .env("TRESTLE_PROVIDER__BASE_URL", sim)
        .env("TRESTLE_COMMIT_MAX_RECORDS", "20")
        .env("TRESTLE_COMMIT_INTERVAL_MS", "20")
        // Only the scheduler, offsets and transactions are under test here.
        .env("TRESTLE_LADDER__ENABLED", "false")
        .env("TRESTLE_CACHE__ENABLED", "false")
        .env("TRESTLE_COST_LIMITS__ENABLED", "false")
        .env("TRESTLE_DIRECTORY_CATCH_UP_MS", "5000")
        // These companies are not onboarded (the refusal has its own test, onboarded.rs).
        .env("TRESTLE_UNPROVISIONED", "serve_as_starter")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start trestle-engine");
    ChildGuard(child)
}

/// A provider simulator serving gemini with `latency_ms` ± `jitter_ms` per call.
pub(crate) async fn gemini_sim(latency_ms: u64, jitter_ms: u64) -> String {
    let gemini = Behaviour {
        latency_ms,
        jitter_ms,
        ..Behaviour::default()
    };
    start_sim(BTreeMap::from([("gemini".to_string(), gemini)])).await
}

/// `n` chat requests of 50 companies, round robin, published to the test's requests topic.
pub(crate) async fn chat_load(topics: &TestTopics, n: usize) -> Vec<Event> {
    let producer = EventProducer::new(&topics.options).unwrap();
    let companies: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    let requests: Vec<Event> = (0..n)
        .map(|i| request(companies[i % 50], AiRequestKind::Chat))
        .collect();
    fixtures::publish_all(&producer, &requests).await;
    requests
}

/// Offsets the engine group has committed on the requests topic, summed over partitions.
pub(crate) fn committed(topics: &TestTopics, partitions: i32) -> i64 {
    let points = crate::support::committed_points(topics, partitions);
    points.iter().flatten().map(|(offset, _)| offset).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_outcome_is_duplicated_or_lost_across_sigkill_of_the_engine() {
    let partitions = 4;
    let topics = TestTopics::create("engine_sigkill", partitions)
        .await
        .unwrap();
    let sim = gemini_sim(40, 20).await;
    let requests = chat_load(&topics, 4_000).await;
    let total = requests.len() as i64;

    let mut kills = 0;
    let mut child = start_engine(&topics, &sim);
    while kills < 4 {
        let before = committed(&topics, partitions);
        trestle_testkit::wait_for("engine progress", Duration::from_secs(90), || async {
            (committed(&topics, partitions) > before).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..200))).await;
        if committed(&topics, partitions) >= total {
            break;
        }
        child.kill();
        kills += 1;
        child = start_engine(&topics, &sim);
    }
    assert!(
        kills >= 2,
        "the engine was killed mid-run only {kills} times"
    );
    trestle_testkit::wait_for(
        "the engine to commit every request",
        Duration::from_secs(120),
        || async { (committed(&topics, partitions) >= total).then_some(()) },
    )
    .await;
    child.kill();

    let outcomes = decode_all(
        &read_topic(
            &topics.options,
            &topics.topic("ai-outcomes"),
            4_000,
            Duration::from_secs(60),
        )
        .await,
    );
    let usage = decode_all(
        &read_topic(
            &topics.options,
            &topics.topic("usage"),
            4_000,
            Duration::from_secs(60),
        )
        .await,
    );
    assert_eq!(
        outcomes.len(),
        4_000,
        "one committed outcome per request, no duplicates"
    );
    assert_eq!(
        usage.len(),
        4_000,
        "one committed usage record per request, no duplicates"
    );
    let answered: BTreeSet<Uuid> = outcomes.iter().map(request_id).collect();
    let sent: BTreeSet<Uuid> = requests
        .iter()
        .map(|r| match r {
            Event::AiRequestSubmitted(s) => s.request_id,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(answered, sent, "every request answered exactly once");
    assert!(outcomes
        .iter()
        .all(|e| matches!(e, Event::AiRequestCompleted(_))));
    topics.delete().await;
}
