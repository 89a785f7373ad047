//! Transitions: each change of state is reported once, in order, to one caller.

use std::time::Duration;

use tokio::time::Instant;
use trestle_breaker::{Outcome, Permit, State, Transition};

use crate::{advance_ms, breakers, key, options};

/// Collects every transition that `acquire` and `record` return.
#[derive(Default)]
struct Log(Vec<Transition>);

impl Log {
    /// Acquires; records `outcome` right away if granted. Returns whether it was granted.
    fn call(&mut self, breakers: &trestle_breaker::Breakers, outcome: Outcome) -> bool {
        match breakers.acquire(&key()) {
            Permit::Granted { ticket, transition } => {
                self.0.extend(transition);
                self.0.extend(breakers.record(ticket, outcome));
                true
            }
            Permit::Refused { .. } => false,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_transition_is_reported_once() {
    let start = Instant::now();
    let breakers = breakers(options());
    let mut log = Log::default();

    // Closed: 5 successes, then failures until it opens (5 / 10), then refusals.
    for _ in 0..5 {
        assert!(log.call(&breakers, Outcome::Success));
    }
    for _ in 0..5 {
        assert!(log.call(&breakers, Outcome::Failure));
    }
    for _ in 0..20 {
        assert!(!log.call(&breakers, Outcome::Failure));
    }
    // Half-open after 5 s: one probe succeeds, the next fails; open for 10 s.
    advance_ms(5_000).await;
    assert!(log.call(&breakers, Outcome::Success));
    assert!(log.call(&breakers, Outcome::Failure));
    assert!(!log.call(&breakers, Outcome::Success));
    advance_ms(9_999).await;
    assert!(!log.call(&breakers, Outcome::Success));
    // Half-open again: three successes close it; then calls flow and nothing is reported.
    advance_ms(1).await;
    for _ in 0..3 {
        assert!(log.call(&breakers, Outcome::Success));
    }
    for _ in 0..100 {
        assert!(log.call(&breakers, Outcome::Success));
    }
    // And it can open again.
    advance_ms(1_000).await;
    for _ in 0..100 {
        log.call(&breakers, Outcome::Failure);
    }

    let seen: Vec<_> = log
        .0
        .iter()
        .map(|t| {
            assert_eq!(t.key, key());
            (
                t.seq,
                t.from,
                t.to,
                t.failure_rate,
                t.window_calls,
                t.at - start,
            )
        })
        .collect();
    let s = Duration::from_secs;
    use State::{Closed, HalfOpen, Open};
    assert_eq!(
        seen,
        [
            (1, Closed, Open, 0.5, 10, s(0)),
            (2, Open, HalfOpen, 0.5, 10, s(5)),
            (3, HalfOpen, Open, 0.5, 2, s(5)),
            (4, Open, HalfOpen, 0.5, 2, s(15)),
            (5, HalfOpen, Closed, 0.0, 3, s(15)),
            // 100 successes at 15 s are still in the window at 16 s: 100 failures later,
            // 100 / 200 trips it.
            (6, Closed, Open, 0.5, 200, s(16)),
        ]
    );
}
