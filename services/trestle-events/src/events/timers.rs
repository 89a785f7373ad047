//! Events of the `timers` topic: durable timers workflows schedule and cancel, folded by the
//! timers projection and fired by the timer service (`trestle-timers`, docs/timers.md). Keyed
//! by the company like every tenant event, so one company's schedules and cancels stay in
//! order.

use chrono::{DateTime, Utc};

use crate::{Event, Meta};

record! {
    /// A durable timer: at `due_at` the timer service publishes `event` to `topic` with `key`.
    pub struct TimerScheduled {
        /// Chosen by the scheduling workflow from what causes it (e.g. `demote/<job_id>`), so a
        /// redone step schedules the same timer; unique per company.
        pub timer_id: String,
        /// When to fire; never before.
        pub due_at: DateTime<Utc>,
        /// Logical topic of the event to publish.
        pub topic: String,
        /// Record key of the event to publish.
        pub key: String,
        /// The event to publish, Avro single-object encoded, published byte for byte.
        pub event: Vec<u8>,
    }
}

record! {
    /// A pending timer is cancelled: it will not fire.
    pub struct TimerCancelled {
        /// The `timer_id` of the timer to cancel (same company).
        pub timer_id: String,
    }
}

record! {
    /// The timer service published a due timer's event.
    pub struct TimerFired {
        /// The timer that fired (same company).
        pub timer_id: String,
        /// The service's clock when it fired (at or after the timer's due time).
        pub fired_at: DateTime<Utc>,
    }
}

impl TimerScheduled {
    /// A timer caused by `cause` (same company and correlation) that publishes `event` at
    /// `due_at`, to the topic and under the key `event` belongs to.
    pub fn to_publish(
        timer_id: impl Into<String>,
        due_at: DateTime<Utc>,
        event: &Event,
        cause: &Meta,
    ) -> Result<TimerScheduled, crate::Error> {
        Ok(TimerScheduled {
            meta: Meta::caused_by(cause),
            timer_id: timer_id.into(),
            due_at,
            topic: event.topic().name().to_owned(),
            key: event.key(),
            event: crate::encode(event)?,
        })
    }
}
