//! Behaviour of the circuit breakers, on Tokio's paused clock: time moves only by `advance`.

mod closed;
mod concurrency;
mod half_open;
mod open;
mod options;
mod registry;
mod transitions;

use std::time::Duration;

use trestle_breaker::{
    BreakerKey, BreakerOptions, Breakers, BreakersOptions, Outcome, Permit, State, Ticket,
    Transition,
};

/// Options the tests reason with: a 10 s window of ten 1 s buckets, at least 10 calls, open
/// at 50 % failures, open for 5 s (doubling up to 20 s), 3 probes.
fn options() -> BreakerOptions {
    BreakerOptions {
        window_ms: 10_000,
        window_buckets: 10,
        minimum_calls: 10,
        failure_rate_threshold: 0.5,
        slow_call_ms: None,
        open_duration_ms: 5_000,
        max_open_duration_ms: 20_000,
        half_open_probes: 3,
    }
}

/// A registry whose every provider uses `options`.
fn breakers(options: BreakerOptions) -> Breakers {
    Breakers::new(BreakersOptions {
        default: options,
        ..BreakersOptions::default()
    })
    .unwrap()
}

fn key() -> BreakerKey {
    BreakerKey::new("gemini", "project-1", "eu")
}

/// Acquires a call that must be granted; returns its ticket and any transition.
#[track_caller]
fn grant(breakers: &Breakers, key: &BreakerKey) -> (Ticket, Option<Transition>) {
    match breakers.acquire(key) {
        Permit::Granted { ticket, transition } => (ticket, transition),
        refused => panic!("expected a grant for {key}, got {refused:?}"),
    }
}

/// Acquires a call that must be refused; returns the state and `retry_in_ms` it gave.
#[track_caller]
fn refuse(breakers: &Breakers, key: &BreakerKey) -> (State, Option<u64>) {
    match breakers.acquire(key) {
        Permit::Refused { state, retry_in_ms } => (state, retry_in_ms),
        granted => panic!("expected {key} to refuse, got {granted:?}"),
    }
}

/// Makes one call that must be granted without a transition, records `outcome`, and returns
/// the transition the record caused.
#[track_caller]
fn call(breakers: &Breakers, key: &BreakerKey, outcome: Outcome) -> Option<Transition> {
    let (ticket, transition) = grant(breakers, key);
    assert_eq!(
        transition, None,
        "acquire of a closed breaker must not transition"
    );
    breakers.record(ticket, outcome)
}

/// Outcomes from a string: `S` success, `F` failure.
fn outcomes(script: &str) -> impl Iterator<Item = Outcome> + '_ {
    script.chars().map(|c| match c {
        'S' => Outcome::Success,
        'F' => Outcome::Failure,
        other => panic!("unknown outcome {other:?}"),
    })
}

/// Opens `key`'s closed breaker with `minimum_calls` failures; returns the transition.
#[track_caller]
fn trip(breakers: &Breakers, key: &BreakerKey) -> Transition {
    for _ in 1..options().minimum_calls {
        assert_eq!(call(breakers, key, Outcome::Failure), None);
    }
    let opened = call(breakers, key, Outcome::Failure).expect("the breaker opens");
    assert_eq!((opened.from, opened.to), (State::Closed, State::Open));
    opened
}

async fn advance_ms(ms: u64) {
    tokio::time::advance(Duration::from_millis(ms)).await;
}
