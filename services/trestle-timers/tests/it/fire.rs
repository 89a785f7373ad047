//! Timers fire once each, never before they are due by the service's clock, and cancelled ones
//! never — on a controllable clock, so no test waits for a timer's time.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use trestle_kafka::EventProducer;
use trestle_testkit::fixtures::publish_all;
use trestle_testkit::{TestDb, TestTopics};
use trestle_timers::{Clock, TimersConfig};
use uuid::Uuid;

use crate::support::{cancel, timer, wait_projected, Fired};

#[tokio::test(flavor = "multi_thread")]
async fn timers_fire_once_when_due_by_the_clock_and_cancelled_ones_never() {
    let topics = TestTopics::create("timers_fire", 3).await.unwrap();
    let db = TestDb::control("timers_fire").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let (clock, manual) = Clock::manual(start);
    let config = TimersConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group("timers"),
        poll_interval_ms: 50,
        batch_max_wait_ms: 10,
        ..TimersConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(trestle_timers::run(config, clock, async {
        let _ = stopped.await;
    }));

    // 2,000 timers of 20 companies, due over ten hours; every tenth is cancelled.
    let companies: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    let mut schedule = Vec::new();
    let mut due_of = BTreeMap::new();
    for n in 0..2000 {
        let due = start + Duration::minutes(1 + (n as i64 * 7) % 600);
        let (event, fires) = timer(companies[n % 20], n, due);
        schedule.push(event);
        if n % 10 != 0 {
            due_of.insert(fires, due);
        }
    }
    let cancels: Vec<_> = (0..2000)
        .step_by(10)
        .map(|n| cancel(companies[n % 20], n))
        .collect();
    publish_all(&producer, &schedule).await;
    publish_all(&producer, &cancels).await;
    // Every schedule and cancel is in the table before the clock moves (a cancel that comes
    // after its timer's time is late, by definition).
    wait_projected(&db, 2000, 200).await;

    // Hour by hour: what is due has fired, once; nothing later has.
    let mut fired = Fired::new(&topics);
    for hour in 1..=10 {
        manual.advance(Duration::hours(1));
        let now = start + Duration::hours(hour);
        let due_by_now = due_of.values().filter(|d| **d <= now).count();
        let seen = fired.at_least(due_by_now).await;
        for (id, times) in seen {
            let due = due_of.get(id).expect("only timers not cancelled fire");
            assert!(*due <= now, "a timer due at {due} fired by {now}");
            assert_eq!(*times, 1, "timer event {id} delivered once");
        }
        assert_eq!(seen.len(), due_by_now, "by {now}");
    }
    drop(stop);
    service.await.unwrap().unwrap();
    db.drop_db().await;
    topics.delete().await;
}
