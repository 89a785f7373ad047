//! Shared helpers: timers to schedule, the events they fire, reading what fired.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use trestle_events::{
    AlertKind, AlertRaised, AlertSeverity, Event, Meta, TimerCancelled, TimerScheduled,
};
use trestle_testkit::TestTopics;
use uuid::Uuid;

/// How long a test waits for the service.
pub(crate) const WAIT: Duration = Duration::from_secs(120);

/// A timer of `company` firing an alert at `due`; returns the scheduling event and the id of
/// the event it fires.
pub(crate) fn timer(company: Uuid, n: usize, due: DateTime<Utc>) -> (Event, Uuid) {
    let fired = Event::AlertRaised(AlertRaised {
        meta: Meta::root(company),
        alert_id: Uuid::now_v7(),
        kind: AlertKind::CostSpike,
        severity: AlertSeverity::Warn,
        subject: format!("timer {n}"),
        value: 0.0,
        threshold: 0.0,
    });
    let fired_id = fired.meta().event_id;
    let scheduled =
        TimerScheduled::to_publish(format!("test/{n}"), due, &fired, &Meta::root(company))
            .expect("encodable");
    (Event::TimerScheduled(scheduled), fired_id)
}

pub(crate) fn cancel(company: Uuid, n: usize) -> Event {
    Event::TimerCancelled(TimerCancelled {
        meta: Meta::root(company),
        timer_id: format!("test/{n}"),
    })
}

/// Reads the fired events on the test's `alerts` topic as they come (read_committed, from
/// the beginning, partitions assigned by hand): event id → times delivered.
pub(crate) struct Fired {
    consumer: StreamConsumer,
    seen: BTreeMap<Uuid, usize>,
}

impl Fired {
    pub(crate) fn new(topics: &TestTopics) -> Fired {
        let topic = topics.topic("alerts");
        let group = format!(
            "{}reader-{}",
            topics.options.topic_prefix,
            Uuid::new_v4().simple()
        );
        let consumer: StreamConsumer = topics.options.consumer_config(&group).create().unwrap();
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for p in metadata.topics()[0].partitions() {
            assignment
                .add_partition_offset(&topic, p.id(), Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        Fired {
            consumer,
            seen: BTreeMap::new(),
        }
    }

    /// Everything delivered so far, once at least `distinct` different events arrived.
    pub(crate) async fn at_least(&mut self, distinct: usize) -> &BTreeMap<Uuid, usize> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.seen.len() < distinct {
            let message = tokio::time::timeout_at(deadline, self.consumer.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{} of {distinct} timer events fired within {WAIT:?}",
                        self.seen.len()
                    )
                })
                .unwrap();
            let event = trestle_events::decode(message.payload().unwrap()).unwrap();
            *self.seen.entry(event.meta().event_id).or_insert(0) += 1;
        }
        // And whatever else is already there (an early or second delivery).
        while let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_millis(200), self.consumer.recv()).await
        {
            let event = trestle_events::decode(message.payload().unwrap()).unwrap();
            *self.seen.entry(event.meta().event_id).or_insert(0) += 1;
        }
        &self.seen
    }
}

/// Waits until the timers projection holds `timers` timers, `cancelled` of them cancelled.
pub(crate) async fn wait_projected(db: &trestle_testkit::TestDb, timers: i64, cancelled: i64) {
    let pool = trestle_store::connect(&db.options).await.unwrap();
    let pool = &pool;
    trestle_testkit::wait_for("the timers to be projected", WAIT, || async move {
        let (all, gone): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE state = 'cancelled') FROM timers",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        (all == timers && gone == cancelled).then_some(())
    })
    .await;
}
