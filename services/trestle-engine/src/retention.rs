//! Retention of answers (customer data): the first request the engine serves for a company on
//! a UTC day schedules a durable timer (`trestle-timers`) that, `retention_days` after that
//! day ends, publishes `AiRequestsExpired { submitted_before: the day's end }`; the
//! ai_requests projection deletes the company's requests submitted before it. The timer goes
//! out in the same transaction as the request's outcome. Its id is per company and day, so a
//! redone step, a restart or another instance schedules the same timer again (which replaces
//! it, pending) rather than a second one; and since each expiry deletes everything before its
//! instant, a day whose timer was lost (its transaction dropped after this instance noted it)
//! is purged by the next day's.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use trestle_events::{AiRequestSubmitted, AiRequestsExpired, Event, Meta, TimerScheduled};
use uuid::Uuid;

/// How long answers are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionOptions {
    /// Off: no expiry timer is scheduled (the ai_requests rows stay). Default on.
    pub enabled: bool,
    /// Days a request (its prompt's answer) is kept after the UTC day it was submitted.
    /// Default 90.
    pub retention_days: u32,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        RetentionOptions {
            enabled: true,
            retention_days: 90,
        }
    }
}

/// The days this instance has scheduled an expiry for, per company (today's and yesterday's
/// only: older entries are dropped).
pub(crate) struct Retention {
    options: RetentionOptions,
    scheduled: Mutex<HashSet<(Uuid, NaiveDate)>>,
}

impl Retention {
    pub(crate) fn new(options: RetentionOptions) -> Self {
        Retention {
            options,
            scheduled: Mutex::new(HashSet::new()),
        }
    }

    /// The expiry timer to publish with a request's outcome, unless this instance scheduled the
    /// company's for that day already.
    pub(crate) fn timer_for(&self, submitted: &AiRequestSubmitted) -> Option<Event> {
        if !self.options.enabled {
            return None;
        }
        let day = submitted.meta.occurred_at.date_naive();
        {
            let mut scheduled = self.scheduled.lock().unwrap_or_else(|e| e.into_inner());
            let yesterday = day.pred_opt().unwrap_or(day);
            scheduled.retain(|(_, d)| *d >= yesterday);
            if !scheduled.insert((submitted.meta.company_id, day)) {
                return None;
            }
        }
        match expiry_timer(submitted, day, self.options.retention_days) {
            Ok(timer) => Some(Event::TimerScheduled(timer)),
            Err(error) => {
                tracing::warn!(message = "Could not build a retention timer; the next day's covers this one.", %error);
                None
            }
        }
    }
}

/// The timer expiring a company's requests of `day`: `timer_id` `ai-requests/retention/<day>`,
/// due `retention_days` after the day ends. NEVER CHANGE the id's form: it is what makes a
/// re-scheduling replace the pending timer instead of adding one.
pub(crate) fn expiry_timer(
    submitted: &AiRequestSubmitted,
    day: NaiveDate,
    retention_days: u32,
) -> Result<TimerScheduled, trestle_events::Error> {
    let day_end: DateTime<Utc> = (day + Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let due_at = day_end + Days::new(u64::from(retention_days));
    let expired = Event::AiRequestsExpired(AiRequestsExpired {
        meta: Meta {
            occurred_at: due_at,
            ..Meta::caused_by(&submitted.meta)
        },
        submitted_before: day_end,
        retention_days: retention_days as i32,
    });
    TimerScheduled::to_publish(
        format!("ai-requests/retention/{day}"),
        due_at,
        &expired,
        &submitted.meta,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_gets_one_expiry_timer_per_day_due_retention_days_after_it_ends() {
        let retention = Retention::new(RetentionOptions::default());
        let submitted = request();
        let Some(Event::TimerScheduled(timer)) = retention.timer_for(&submitted) else {
            panic!("the first request of the day schedules the expiry");
        };
        assert!(retention.timer_for(&submitted).is_none(), "once per day");
        assert_eq!(timer.timer_id, "ai-requests/retention/2026-01-01");
        assert_eq!(timer.due_at.to_rfc3339(), "2026-04-02T00:00:00+00:00");
        let Event::AiRequestsExpired(expired) = trestle_events::decode(&timer.event).unwrap()
        else {
            panic!("the timer publishes AiRequestsExpired");
        };
        assert_eq!(
            expired.submitted_before.to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
        assert_eq!(expired.meta.company_id, submitted.meta.company_id);
        let off = Retention::new(RetentionOptions {
            enabled: false,
            ..RetentionOptions::default()
        });
        assert!(off.timer_for(&submitted).is_none());
    }

    fn request() -> AiRequestSubmitted {
        let at = DateTime::parse_from_rfc3339("2026-01-01T15:00:00Z").unwrap();
        AiRequestSubmitted {
            meta: Meta {
                occurred_at: at.with_timezone(&Utc),
                ..Meta::root(Uuid::from_u128(7))
            },
            request_id: Uuid::from_u128(9),
            user_id: "u".into(),
            kind: trestle_events::AiRequestKind::Chat,
            prompt: "p".into(),
            ordering_key: None,
            job_id: None,
            submitted_via: "web".into(),
            document_ids: vec![],
        }
    }
}
