//! The benchmark's timers, generated from a seed and the timer's index, so every phase (the
//! scheduling events, the COPY rows, the raw producer's payloads) sees the same timers and the
//! same event bytes without keeping a million of them in memory.
//!
//! Timer `i` is a "demote this job's notebook in 30 days" of one of the companies (drawn
//! uniformly), due at a uniformly drawn second of the window after the clock's start.

use chrono::{DateTime, Duration, Utc};
use trestle_events::{
    Event, Meta, NotebookDemoted, NotebookTier, TimerFired, TimerScheduled, Topic,
};
use uuid::Uuid;

/// Earliest due time after the clock's start: nothing is due while timers are projected.
const FIRST_DUE: Duration = Duration::minutes(1);

/// What all timers of a run share.
pub(crate) struct Workload {
    seed: u64,
    pub companies: Vec<Uuid>,
    /// The company ids as record keys (canonical strings), by index.
    pub keys: Vec<String>,
    /// The manual clock's start.
    pub start: DateTime<Utc>,
    /// Due times are spread uniformly over this window after `start` (plus a minute).
    pub window: Duration,
    pub n: usize,
}

/// One timer, as a workflow would schedule it.
pub(crate) struct Timer {
    /// Index into [`Workload::companies`].
    pub company: usize,
    pub timer_id: String,
    pub due: DateTime<Utc>,
    /// The event the timer publishes when due.
    pub event: Event,
    /// The event that schedules it (the job's completion, here a root of its own).
    pub cause: Meta,
}

impl Workload {
    pub(crate) fn new(
        seed: u64,
        companies: usize,
        n: usize,
        start: DateTime<Utc>,
        window: Duration,
    ) -> Workload {
        let mut rng = fastrand::Rng::with_seed(seed);
        let companies: Vec<Uuid> = (0..companies).map(|_| uuid(&mut rng)).collect();
        let keys = companies.iter().map(Uuid::to_string).collect();
        Workload {
            seed,
            companies,
            keys,
            start,
            window,
            n,
        }
    }

    /// When the manual clock has passed every due time.
    pub(crate) fn past_all(&self) -> Duration {
        FIRST_DUE + self.window + Duration::minutes(1)
    }

    /// Timer `i` (the same every time it is asked for).
    pub(crate) fn timer(&self, i: usize) -> Timer {
        let mut rng =
            fastrand::Rng::with_seed(self.seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let company = rng.usize(..self.companies.len());
        let company_id = self.companies[company];
        let job = uuid(&mut rng);
        let due = self.start
            + FIRST_DUE
            + Duration::seconds(rng.i64(0..self.window.num_seconds().max(1)));
        let meta = |event_id: Uuid| Meta {
            event_id,
            company_id,
            occurred_at: self.start,
            correlation_id: event_id,
            causation_id: event_id,
        };
        let cause = meta(uuid(&mut rng));
        let event = Event::NotebookDemoted(NotebookDemoted {
            meta: meta(uuid(&mut rng)),
            notebook_id: format!("nb-{}", &job.simple().to_string()[..12]),
            job_id: Some(job.to_string()),
            from_tier: NotebookTier::Warm,
            to_tier: NotebookTier::Cold,
            target_notebook_id: None,
            reason: "30 days after the job completed".into(),
        });
        Timer {
            company,
            timer_id: format!("demote/{job}"),
            due,
            event,
            cause,
        }
    }

    /// The `TimerScheduled` of timer `i`, as the workflow publishes it.
    pub(crate) fn scheduled(&self, i: usize) -> anyhow::Result<Event> {
        let t = self.timer(i);
        let scheduled = TimerScheduled::to_publish(t.timer_id, t.due, &t.event, &t.cause)?;
        Ok(Event::TimerScheduled(scheduled))
    }
}

impl Timer {
    /// The logical topic of the event it publishes.
    pub(crate) fn topic(&self) -> Topic {
        self.event.topic()
    }

    /// The `TimerFired` the timer service publishes with it (fired at `at`).
    pub(crate) fn fired(&self, at: DateTime<Utc>) -> Event {
        Event::TimerFired(TimerFired {
            meta: Meta::caused_by(&self.cause),
            timer_id: self.timer_id.clone(),
            fired_at: at,
        })
    }
}

/// A random (v4) UUID from the seeded generator.
fn uuid(rng: &mut fastrand::Rng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Workload {
        let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        Workload::new(7, 10, 100, start, Duration::days(30))
    }

    #[test]
    fn a_timer_is_the_same_bytes_every_time_it_is_generated() {
        let w = workload();
        for i in [0, 1, 99] {
            let (a, b) = (w.timer(i), w.timer(i));
            assert_eq!(a.timer_id, b.timer_id);
            assert_eq!(a.due, b.due);
            assert_eq!(
                trestle_events::encode(&a.event).unwrap(),
                trestle_events::encode(&b.event).unwrap()
            );
        }
        assert_ne!(w.timer(0).timer_id, w.timer(1).timer_id);
    }

    #[test]
    fn every_due_time_falls_inside_the_window_after_the_start() {
        let w = workload();
        for i in 0..w.n {
            let due = w.timer(i).due;
            assert!(
                due > w.start && due < w.start + w.past_all(),
                "timer {i} due {due}"
            );
        }
    }
}
