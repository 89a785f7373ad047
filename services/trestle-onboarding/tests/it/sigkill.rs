//! Onboarding SIGKILLed at random points while it provisions: every company is provisioned
//! exactly once.

use std::process::Command;
use std::time::Duration;

use trestle_events::{IsolationLevel, Region, Tier};
use trestle_kafka::EventProducer;
use trestle_testkit::fixtures::publish_all;
use trestle_testkit::{ChildGuard, TestDb, TestTopics};

use crate::support::{project, provisionings, registration, spawn_pool, wait_projects};

fn start_onboarding(topics: &TestTopics, db: &TestDb) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_trestle-onboarding"))
        .env(
            "TRESTLE_KAFKA__BOOTSTRAP_SERVERS",
            &topics.options.bootstrap_servers,
        )
        .env("TRESTLE_KAFKA__TOPIC_PREFIX", &topics.options.topic_prefix)
        .env("TRESTLE_POSTGRES__URL", &db.options.url)
        .env("TRESTLE_POSTGRES__OWNER_URL", &db.options.owner_url)
        .env("TRESTLE_GROUP_ID", topics.group("onboarding"))
        // A stable identity: the restarted instance fences the killed one's open transaction.
        .env("TRESTLE_INSTANCE_ID", "onboarding-under-test")
        .env("TRESTLE_COMMIT_INTERVAL_MS", "20")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start trestle-onboarding");
    ChildGuard(child)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_at_random_points_onboarding_provisions_each_company_once() {
    let topics = TestTopics::create("onboarding_kill", 3).await.unwrap();
    let db = TestDb::control("onboarding_kill").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let regions = [Region::Us, Region::Eu, Region::Apac];
    let projects: Vec<_> = regions
        .iter()
        .map(|r| project(&format!("{}-1", r.as_str()), *r))
        .collect();
    publish_all(&producer, &projects).await;
    let (_pool_stop, _pool) = spawn_pool(&topics, &db);
    wait_projects(&db, 3).await;

    let companies: Vec<_> = (0..300)
        .map(|i| registration(Tier::Professional, regions[i % 3], IsolationLevel::Shared))
        .collect();
    let mut onboarding = start_onboarding(&topics, &db);
    for chunk in companies.chunks(100) {
        publish_all(&producer, chunk).await;
        // Kill it somewhere in the middle of this chunk's placements, then start it again.
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..400))).await;
        onboarding.kill();
        onboarding = start_onboarding(&topics, &db);
    }
    let provisioned = provisionings(&topics, 600).await;
    assert_eq!(provisioned.len(), 300, "every company is provisioned");
    for (company, placements) in &provisioned {
        assert_eq!(placements.len(), 1, "{company} is provisioned once");
    }
    onboarding.kill();
    db.drop_db().await;
    topics.delete().await;
}
