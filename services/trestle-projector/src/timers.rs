//! The timers projection: `timers` → the control database's `timers` table, the timer
//! service's pending timers. TimerScheduled inserts a timer (or replaces a pending one of the
//! same id); TimerCancelled cancels a pending one; TimerFired (published by the timer service
//! with the timer's event) marks it fired. A fired or cancelled timer is never revived and a
//! re-published event changes nothing, so the table is a function of the log: a rebuild does
//! not fire anything again. (The service also marks a timer fired itself, at once, so it does
//! not wait for this projection to move on.)

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::Event;
use uuid::Uuid;

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};

/// `timers` → `timers` (control database).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimersProjection;

impl Projection for TimersProjection {
    fn name(&self) -> &'static str {
        "timers"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["timers"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        decode_keyed(record).map(Some)
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let mut batch = Batch::default();
            for s in events {
                batch.add(s.event);
            }
            let unchanged: i64 =
                sqlx::query_scalar("SELECT apply_timers($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&batch.kinds)
                    .bind(&batch.companies)
                    .bind(&batch.ids)
                    .bind(&batch.dues)
                    .bind(&batch.topics)
                    .bind(&batch.keys)
                    .bind(&batch.events)
                    .bind(&batch.set_by)
                    .fetch_one(conn)
                    .await?;
            Ok(Applied {
                duplicates: unchanged as usize,
            })
        })
    }
}

/// A batch of timer events as parallel arrays, in log order.
#[derive(Default)]
struct Batch {
    kinds: Vec<i32>,
    companies: Vec<Uuid>,
    ids: Vec<String>,
    dues: Vec<DateTime<Utc>>,
    topics: Vec<String>,
    keys: Vec<String>,
    events: Vec<Vec<u8>>,
    set_by: Vec<Uuid>,
}

impl Batch {
    fn add(&mut self, event: Event) {
        match event {
            Event::TimerScheduled(t) => {
                self.kinds.push(1);
                self.companies.push(t.meta.company_id);
                self.ids.push(t.timer_id);
                self.dues.push(t.due_at);
                self.topics.push(t.topic);
                self.keys.push(t.key);
                self.events.push(t.event);
                self.set_by.push(t.meta.event_id);
            }
            Event::TimerFired(t) => {
                self.kinds.push(3);
                self.companies.push(t.meta.company_id);
                self.ids.push(t.timer_id);
                self.dues.push(t.fired_at);
                self.topics.push(String::new());
                self.keys.push(String::new());
                self.events.push(Vec::new());
                self.set_by.push(t.meta.event_id);
            }
            Event::TimerCancelled(t) => {
                self.kinds.push(2);
                self.companies.push(t.meta.company_id);
                self.ids.push(t.timer_id);
                self.dues.push(DateTime::UNIX_EPOCH);
                self.topics.push(String::new());
                self.keys.push(String::new());
                self.events.push(Vec::new());
                self.set_by.push(t.meta.event_id);
            }
            _ => {}
        }
    }
}
