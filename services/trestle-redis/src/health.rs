//! Whether Redis is answering, and when to try it again during an outage.
//!
//! While Redis is up every call (a rate-limit decision, a budget reservation …) goes to Redis.
//! The first failure starts an outage (reported once). During an outage at most one call per
//! probe interval tries Redis; the rest go straight to the caller's local fallback, so an outage
//! costs callers no waiting beyond those probes. The first success ends the outage.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The outage state of one Redis as one limiter sees it; shared by its clones.
#[derive(Debug)]
pub struct Health {
    probe_interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Up,
    Down { since: Instant, next_probe: Instant },
}

impl Health {
    /// Redis up; during an outage one call per `probe_interval` will try it.
    pub fn new(probe_interval: Duration) -> Health {
        Health {
            probe_interval,
            state: Mutex::new(State::Up),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a plain value, valid whatever a panicking holder did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether this call should ask Redis; during an outage, true for one probe per interval.
    pub fn should_try_redis(&self, now: Instant) -> bool {
        let mut state = self.state();
        match *state {
            State::Up => true,
            State::Down { since, next_probe } if now >= next_probe => {
                *state = State::Down {
                    since,
                    next_probe: now + self.probe_interval,
                };
                true
            }
            State::Down { .. } => false,
        }
    }

    /// Whether no outage is going on.
    pub fn is_up(&self) -> bool {
        matches!(*self.state(), State::Up)
    }

    /// Redis answered. Returns how long the outage lasted if this ended one.
    pub fn succeeded(&self, now: Instant) -> Option<Duration> {
        let mut state = self.state();
        match std::mem::replace(&mut *state, State::Up) {
            State::Up => None,
            State::Down { since, .. } => Some(now.saturating_duration_since(since)),
        }
    }

    /// Redis failed. Returns true if this began an outage.
    pub fn failed(&self, now: Instant) -> bool {
        let mut state = self.state();
        match *state {
            State::Up => {
                *state = State::Down {
                    since: now,
                    next_probe: now + self.probe_interval,
                };
                true
            }
            State::Down { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: Duration = Duration::from_millis(100);

    #[test]
    fn reports_an_outage_once_and_probes_once_per_interval() {
        let health = Health::new(PROBE);
        let t0 = Instant::now();
        assert!(health.should_try_redis(t0));
        assert!(health.is_up());
        assert!(health.failed(t0));
        assert!(!health.is_up());
        assert!(!health.failed(t0), "a second failure is the same outage");
        assert!(!health.should_try_redis(t0 + PROBE / 2));
        assert!(health.should_try_redis(t0 + PROBE));
        assert!(
            !health.should_try_redis(t0 + PROBE),
            "one probe per interval"
        );
        assert!(!health.failed(t0 + PROBE));
        assert!(health.should_try_redis(t0 + PROBE * 2));
        assert_eq!(health.succeeded(t0 + PROBE * 2), Some(PROBE * 2));
        assert!(health.is_up());
        assert_eq!(health.succeeded(t0 + PROBE * 3), None);
        assert!(health.should_try_redis(t0 + PROBE * 3));
    }
}
