//! Firing due timers: in one database transaction, take a batch of pending timers due by the
//! clock (`FOR UPDATE SKIP LOCKED`, so several instances share the work), publish each stored
//! event byte for byte and a `TimerFired` (so the timers table stays a function of the log)
//! and wait for every ack, then mark them fired and commit.
//!
//! Once in effect: a timer is marked fired only after its event is acknowledged, so a crash
//! (or a failed publish) before the commit leaves it pending and it fires again — the same
//! bytes, so the same `event_id`, which consumers deduplicate on. A timer is never fired
//! before its due time by the service's clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use trestle_events::{Event, Meta, TimerFired};
use uuid::Uuid;

use crate::clock::Clock;
use crate::Error;

/// A due timer's row: company, set by, id, due, topic, key, event.
type DueRow = (Uuid, Uuid, String, DateTime<Utc>, String, String, Vec<u8>);

/// The `TimerFired` of a due timer, caused by the event that scheduled it.
fn fired_event(d: &Due, now: DateTime<Utc>) -> Event {
    Event::TimerFired(TimerFired {
        meta: Meta {
            event_id: Uuid::now_v7(),
            company_id: d.company_id,
            occurred_at: trestle_events::now_micros(),
            correlation_id: d.set_by,
            causation_id: d.set_by,
        },
        timer_id: d.timer_id.clone(),
        fired_at: now,
    })
}

/// A due timer, as fired.
struct Due {
    company_id: Uuid,
    set_by: Uuid,
    timer_id: String,
    due_at: DateTime<Utc>,
    topic: String,
    record_key: String,
    event: Vec<u8>,
}

/// Fires due timers until `shutdown` resolves.
pub(crate) struct Firer {
    pub pool: PgPool,
    pub producer: FutureProducer,
    pub kafka: trestle_kafka::KafkaOptions,
    pub clock: Clock,
    /// Most timers fired per transaction.
    pub batch: i64,
    /// How often the clock is looked at when nothing wakes the service.
    pub poll: Duration,
}

impl Firer {
    pub(crate) async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut moved = self.clock.watch();
        loop {
            let now = self.clock.now();
            let full = match self.fire_due(now).await {
                Ok(fired) => fired as i64 == self.batch,
                Err(error) => {
                    tracing::warn!(message = "Firing due timers failed; they stay pending and are retried.", %error);
                    false
                }
            };
            if full {
                continue;
            }
            let clock_moved = async {
                match moved.as_mut() {
                    Some(rx) => {
                        let _ = rx.changed().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.poll) => {}
                _ = clock_moved => {}
            }
        }
    }

    /// Fires one batch of timers due at `now`; returns how many.
    async fn fire_due(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let db = |step: &'static str| move |source| Error::Postgres { step, source };
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        let due: Vec<DueRow> = sqlx::query_as(
            "SELECT company_id, set_by, timer_id, due_at, topic, record_key, event FROM timers \
             WHERE state = 'pending' AND due_at <= $1 ORDER BY due_at LIMIT $2 \
             FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("select due"))?;
        if due.is_empty() {
            return Ok(0);
        }
        let due: Vec<Due> = due
            .into_iter()
            .map(
                |(company_id, set_by, timer_id, due_at, topic, record_key, event)| Due {
                    company_id,
                    set_by,
                    timer_id,
                    due_at,
                    topic,
                    record_key,
                    event,
                },
            )
            .collect();
        self.publish(&due, now).await?;
        let companies: Vec<Uuid> = due.iter().map(|d| d.company_id).collect();
        let ids: Vec<&str> = due.iter().map(|d| d.timer_id.as_str()).collect();
        sqlx::query(
            "UPDATE timers SET state = 'fired', fired_at = $3 \
             FROM unnest($1::uuid[], $2::text[]) AS f(company_id, timer_id) \
             WHERE timers.company_id = f.company_id AND timers.timer_id = f.timer_id",
        )
        .bind(&companies)
        .bind(&ids)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("mark fired"))?;
        tx.commit().await.map_err(db("commit"))?;
        for d in &due {
            let late = (now - d.due_at).to_std().unwrap_or_default();
            trestle_telemetry::timer_fired(late);
        }
        Ok(due.len())
    }

    /// Publishes every due timer's event and its `TimerFired`, and waits for all acks.
    async fn publish(&self, due: &[Due], now: DateTime<Utc>) -> Result<(), Error> {
        let mut deliveries = Vec::with_capacity(2 * due.len());
        for d in due {
            let fired = fired_event(d, now);
            let payload = trestle_events::encode(&fired).map_err(|e| Error::Unencodable {
                event: fired.name(),
                reason: e.to_string(),
            })?;
            let records = [
                (
                    self.kafka.topic(&d.topic),
                    d.record_key.clone(),
                    d.event.as_slice(),
                ),
                (self.kafka.topic("timers"), fired.key(), payload.as_slice()),
            ];
            for (topic, key, payload) in records {
                let record = FutureRecord::to(&topic).key(&key).payload(payload);
                let delivery =
                    self.producer
                        .send_result(record)
                        .map_err(|(source, _)| Error::Produce {
                            topic: topic.clone(),
                            source,
                        })?;
                deliveries.push((topic, delivery));
            }
        }
        for (topic, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((source, _))) => return Err(Error::Produce { topic, source }),
                Err(_) => {
                    return Err(Error::Produce {
                        topic,
                        source: rdkafka::error::KafkaError::Canceled,
                    })
                }
            }
        }
        Ok(())
    }
}
