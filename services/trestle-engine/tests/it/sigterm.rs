//! SIGTERM (systemd, Kubernetes) stops the engine like Ctrl-C: requests in flight finish and
//! are committed with their outcomes before the process exits, so nothing is redone or lost.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use trestle_events::{AiRequestKind, Event};
use trestle_kafka::EventProducer;
use trestle_provider_sim::Behaviour;
use trestle_testkit::{read_topic, ChildGuard, TestTopics};
use uuid::Uuid;

use crate::sigkill::{committed, start_engine};
use crate::support::{decode_all, provider_calls, request, request_id, start_sim};

/// Provider calls answered so far, over all providers.
async fn calls(sim: &str) -> u64 {
    provider_calls(sim).await.values().sum()
}

/// Sends SIGTERM and waits for the process to exit; panics if it does not within `timeout`.
async fn terminate(child: &mut ChildGuard, timeout: Duration) -> std::process::ExitStatus {
    let pid = child.0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the engine did not exit within {timeout:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_requests_in_flight_finish_and_commit_before_exit() {
    let partitions = 2;
    let topics = TestTopics::create("engine_sigterm", partitions)
        .await
        .unwrap();
    // Slow enough that the first calls are still in flight when the signal comes.
    let sim = start_sim(BTreeMap::from([(
        "gemini".to_string(),
        Behaviour {
            latency_ms: 1_500,
            jitter_ms: 0,
            ..Behaviour::default()
        },
    )]))
    .await;
    let producer = EventProducer::new(&topics.options).unwrap();
    let companies: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    let requests: Vec<Event> = (0..400)
        .map(|i| request(companies[i % 50], AiRequestKind::Chat))
        .collect();
    for r in futures::future::join_all(requests.iter().map(|r| producer.publish(r))).await {
        r.unwrap();
    }

    let mut engine = start_engine(&topics, &sim);
    let in_flight = trestle_testkit::wait_for(
        "the engine to call the provider",
        Duration::from_secs(60),
        || async { Some(calls(&sim).await).filter(|&n| n > 0) },
    )
    .await;
    let status = terminate(&mut engine, Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "the engine exits cleanly on SIGTERM: {status}"
    );

    // Everything it started before the signal finished and was committed with its outcome.
    let started = calls(&sim).await;
    assert!(started >= in_flight);
    let outcomes = decode_all(
        &read_topic(
            &topics.options,
            &topics.topic("ai-outcomes"),
            started as usize,
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(
        outcomes.len() as u64,
        started,
        "one committed outcome per provider call begun before the exit"
    );
    assert!(
        (started as usize) < requests.len(),
        "the signal came mid-load"
    );
    assert!(committed(&topics, partitions) as u64 <= started);

    // A restart serves the rest and redoes nothing the drained instance finished.
    let mut engine = start_engine(&topics, &sim);
    trestle_testkit::wait_for(
        "the restarted engine to commit every request",
        Duration::from_secs(120),
        || async { (committed(&topics, partitions) >= requests.len() as i64).then_some(()) },
    )
    .await;
    assert!(terminate(&mut engine, Duration::from_secs(30))
        .await
        .success());
    let outcomes = decode_all(
        &read_topic(
            &topics.options,
            &topics.topic("ai-outcomes"),
            requests.len(),
            Duration::from_secs(60),
        )
        .await,
    );
    assert_eq!(outcomes.len(), requests.len(), "no outcome twice");
    let answered: BTreeSet<Uuid> = outcomes.iter().map(request_id).collect();
    let sent: BTreeSet<Uuid> = requests
        .iter()
        .map(|r| match r {
            Event::AiRequestSubmitted(s) => s.request_id,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(answered, sent, "every request answered exactly once");
    assert_eq!(
        calls(&sim).await,
        requests.len() as u64,
        "no request was called twice: the drain committed what it finished"
    );
    topics.delete().await;
}
