//! 10,000 timers across a SIGKILL of the timer service: each fires once in effect (a second
//! delivery can only be the batch in flight at the kill, with the same event id), none before
//! it is due, cancelled ones never. The clock is a file the test moves.

use std::collections::BTreeMap;
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use trestle_kafka::EventProducer;
use trestle_testkit::fixtures::publish_all;
use trestle_testkit::{ChildGuard, TestDb, TestTopics};
use trestle_timers::clock::write_file_clock;
use uuid::Uuid;

use crate::support::{cancel, timer, wait_projected, Fired};

const FIRE_BATCH: usize = 100;

fn start_service(topics: &TestTopics, db: &TestDb, clock: &std::path::Path) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_trestle-timers"))
        .env(
            "TRESTLE_KAFKA__BOOTSTRAP_SERVERS",
            &topics.options.bootstrap_servers,
        )
        .env("TRESTLE_KAFKA__TOPIC_PREFIX", &topics.options.topic_prefix)
        .env("TRESTLE_POSTGRES__URL", &db.options.url)
        .env("TRESTLE_POSTGRES__OWNER_URL", &db.options.owner_url)
        .env("TRESTLE_GROUP_ID", topics.group("timers"))
        .env("TRESTLE_CLOCK__SOURCE", "file")
        .env("TRESTLE_CLOCK__FILE", clock)
        .env("TRESTLE_POLL_INTERVAL_MS", "20")
        .env("TRESTLE_FIRE_BATCH", FIRE_BATCH.to_string())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start trestle-timers");
    ChildGuard(child)
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_timers_fire_once_each_across_a_sigkill_none_early() {
    let topics = TestTopics::create("timers_kill", 3).await.unwrap();
    let db = TestDb::control("timers_kill").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let dir = std::env::temp_dir().join(trestle_testkit::unique("timers_clock"));
    std::fs::create_dir_all(&dir).unwrap();
    let clock = dir.join("clock");
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    write_file_clock(&clock, start).unwrap();
    let mut service = start_service(&topics, &db, &clock);

    let companies: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    let mut schedule = Vec::new();
    let mut due_of: BTreeMap<Uuid, DateTime<Utc>> = BTreeMap::new();
    for n in 0..10_000 {
        let due = start + Duration::seconds(1 + (n as i64 * 3_607) % 36_000);
        let (event, fires) = timer(companies[n % 100], n, due);
        schedule.push(event);
        if n % 10 != 0 {
            due_of.insert(fires, due);
        }
    }
    let cancels: Vec<_> = (0..10_000)
        .step_by(10)
        .map(|n| cancel(companies[n % 100], n))
        .collect();
    publish_all(&producer, &schedule).await;
    publish_all(&producer, &cancels).await;
    wait_projected(&db, 10_000, 1_000).await;

    let mut fired = Fired::new(&topics);
    let mut duplicates = 0;
    for hour in 1..=10 {
        let now = start + Duration::hours(hour);
        write_file_clock(&clock, now).unwrap();
        if hour == 5 {
            // Kill it mid-firing: once part of this hour's timers are out.
            let before = due_of
                .values()
                .filter(|d| **d <= now - Duration::hours(1))
                .count();
            fired.at_least(before + FIRE_BATCH).await;
            service.kill();
            service = start_service(&topics, &db, &clock);
        }
        let due_by_now = due_of.values().filter(|d| **d <= now).count();
        let seen = fired.at_least(due_by_now).await;
        duplicates = 0;
        for (id, times) in seen {
            let due = due_of.get(id).expect("only timers not cancelled fire");
            assert!(*due <= now, "a timer due at {due} fired by {now}");
            duplicates += times - 1;
        }
        assert_eq!(seen.len(), due_by_now, "every timer due by {now} fired");
    }
    assert!(
        duplicates <= FIRE_BATCH,
        "{duplicates} second deliveries: more than the batch in flight at the kill"
    );
    service.kill();
    let _ = std::fs::remove_dir_all(&dir);
    db.drop_db().await;
    topics.delete().await;
}
