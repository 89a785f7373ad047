//! Closed breakers: the sliding window, the minimum number of calls and the threshold.

use trestle_breaker::{BreakerOptions, Outcome, State};

use crate::{advance_ms, breakers, call, grant, key, options, outcomes, trip};

/// Plays `script` (`S`/`F` per call, all at one instant) on a fresh breaker and returns the
/// 1-based number of the call whose record opened it, checking nothing else transitioned.
fn opened_at(options: BreakerOptions, script: &str) -> Option<usize> {
    let breakers = breakers(options);
    let key = key();
    let mut opened = None;
    for (n, outcome) in outcomes(script).enumerate() {
        if let Some(transition) = call(&breakers, &key, outcome) {
            assert_eq!(
                (transition.from, transition.to),
                (State::Closed, State::Open)
            );
            opened = Some(n + 1);
            break;
        }
    }
    opened
}

#[tokio::test(start_paused = true)]
async fn stays_closed_below_minimum_calls_even_if_all_fail() {
    let breakers = breakers(options());
    let key = key();
    for _ in 0..9 {
        assert_eq!(call(&breakers, &key, Outcome::Failure), None);
    }
    assert_eq!(breakers.state(&key), Some(State::Closed));
    // The tenth call reaches `minimum_calls`: the same failure now opens it.
    let opened = call(&breakers, &key, Outcome::Failure).expect("opens at minimum_calls");
    assert_eq!((opened.failure_rate, opened.window_calls), (1.0, 10));
}

#[tokio::test(start_paused = true)]
async fn opens_when_failure_rate_crosses_threshold_in_window() {
    let cases = [
        ("SSSSSFFFFF", Some(10)),           // exactly 0.5 is enough
        ("FFFFFSSSSS", Some(10)),           // order inside the window does not matter
        ("SSSSSSFFFF", None),               // 0.4
        ("SSSSSSSSSSFFFFFFFFF", None),      // 9 / 19
        ("SSSSSSSSSSFFFFFFFFFF", Some(20)), // 10 / 20
        ("FFFFFFFFFS", Some(10)),           // 0.9, once there are 10 calls
        ("SSSSSSSSSSSSSSSSSSSS", None),
    ];
    for (script, expected) in cases {
        assert_eq!(opened_at(options(), script), expected, "script {script}");
    }
    let strict = BreakerOptions {
        failure_rate_threshold: 0.8,
        ..options()
    };
    assert_eq!(opened_at(strict.clone(), "SSSFFFFFFF"), None, "0.7 < 0.8");
    assert_eq!(opened_at(strict, "SSFFFFFFFF"), Some(10), "0.8");
}

#[tokio::test(start_paused = true)]
async fn old_failures_slide_out_of_the_window() {
    // 4 failures, a pause, then 6 successes and 4 failures. With the early failures still
    // in the window that is 8 / 14 ≥ 0.5 (opens); without them 4 / 10 (stays closed).
    // Buckets are 1 s: a failure counts until its bucket is 10 buckets old. After 15 s the
    // new calls land in another bucket of the ring than the old ones, which must not count.
    for (pause_ms, opens) in [
        (9_000, true),
        (9_999, true),
        (10_000, false),
        (15_000, false),
        (60_000, false),
    ] {
        let breakers = breakers(options());
        let key = key();
        for outcome in outcomes("FFFF") {
            assert_eq!(call(&breakers, &key, outcome), None);
        }
        advance_ms(pause_ms).await;
        let opened = outcomes("SSSSSSFFFF").any(|o| call(&breakers, &key, o).is_some());
        assert_eq!(opened, opens, "after a pause of {pause_ms} ms");
    }
}

#[tokio::test(start_paused = true)]
async fn a_steady_trickle_of_failures_below_the_threshold_never_opens_it() {
    // Two successes per failure, one call every 100 ms for fifteen windows: as the ring of
    // buckets wraps round, the rate it sees stays at a third.
    let breakers = breakers(options());
    let key = key();
    for outcome in outcomes(&"SSF".repeat(500)) {
        assert_eq!(call(&breakers, &key, outcome), None);
        advance_ms(100).await;
    }
    assert_eq!(breakers.state(&key), Some(State::Closed));
}

#[tokio::test(start_paused = true)]
async fn slow_successes_count_as_failures() {
    let breakers = breakers(BreakerOptions {
        slow_call_ms: Some(2_000),
        ..options()
    });
    let key = key();
    for _ in 0..5 {
        assert_eq!(call(&breakers, &key, Outcome::Success), None);
    }
    // Five calls in flight together, each answering successfully after exactly 2 s.
    let slow: Vec<_> = (0..5).map(|_| grant(&breakers, &key).0).collect();
    advance_ms(2_000).await;
    let transitions: Vec<_> = slow
        .into_iter()
        .filter_map(|ticket| breakers.record(ticket, Outcome::Success))
        .collect();
    assert_eq!(transitions.len(), 1, "{transitions:?}");
    assert_eq!(transitions[0].to, State::Open);
    assert_eq!(
        (transitions[0].failure_rate, transitions[0].window_calls),
        (0.5, 10)
    );

    // Without `slow_call_ms` the same calls are plain successes.
    let breakers = crate::breakers(options());
    let slow: Vec<_> = (0..10).map(|_| grant(&breakers, &key).0).collect();
    advance_ms(60_000).await;
    for ticket in slow {
        assert_eq!(breakers.record(ticket, Outcome::Success), None);
    }
}

#[tokio::test(start_paused = true)]
async fn calls_granted_before_a_transition_do_not_count_after_it() {
    let breakers = breakers(options());
    let key = key();
    let late: Vec<_> = (0..5).map(|_| grant(&breakers, &key).0).collect();
    trip(&breakers, &key);
    advance_ms(5_000).await;
    let (probe, half_opened) = grant(&breakers, &key);
    assert_eq!(half_opened.map(|t| t.to), Some(State::HalfOpen));

    // Successes of calls made while closed neither count as probes nor close the breaker.
    for ticket in late {
        assert!(!ticket.is_probe());
        assert_eq!(breakers.record(ticket, Outcome::Success), None);
    }
    assert_eq!(breakers.state(&key), Some(State::HalfOpen));
    assert_eq!(breakers.record(probe, Outcome::Success), None);
    assert_eq!(breakers.state(&key), Some(State::HalfOpen));
}

#[tokio::test(start_paused = true)]
async fn dropped_tickets_count_neither_way() {
    let breakers = breakers(options());
    let key = key();
    for _ in 0..100 {
        drop(grant(&breakers, &key));
    }
    for _ in 0..9 {
        assert_eq!(call(&breakers, &key, Outcome::Failure), None);
    }
    assert_eq!(breakers.state(&key), Some(State::Closed));
}
