//! Open breakers: refusing calls, going half-open, and the growing open duration.

use trestle_breaker::{BreakerOptions, Outcome, State};

use crate::{advance_ms, breakers, grant, key, options, refuse, trip};

#[tokio::test(start_paused = true)]
async fn open_breaker_refuses_until_open_duration_passes_then_half_opens() {
    let breakers = breakers(options());
    let key = key();
    let opened = trip(&breakers, &key);
    assert_eq!(breakers.state(&key), Some(State::Open));
    assert_eq!(refuse(&breakers, &key), (State::Open, Some(5_000)));

    advance_ms(3_000).await;
    assert_eq!(refuse(&breakers, &key), (State::Open, Some(2_000)));
    advance_ms(1_999).await;
    assert_eq!(refuse(&breakers, &key), (State::Open, Some(1)));
    // Nothing moves an idle breaker: the state changes on the next acquire, not by itself.
    advance_ms(1).await;
    assert_eq!(breakers.state(&key), Some(State::Open));

    let (probe, transition) = grant(&breakers, &key);
    assert!(probe.is_probe());
    let half_opened = transition.expect("the acquire reports open → half-open");
    assert_eq!(
        (half_opened.from, half_opened.to),
        (State::Open, State::HalfOpen)
    );
    assert_eq!(
        half_opened.at - opened.at,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(breakers.state(&key), Some(State::HalfOpen));
}

#[tokio::test(start_paused = true)]
async fn each_failed_probe_round_doubles_the_open_duration_up_to_the_cap() {
    let breakers = breakers(options());
    let key = key();
    trip(&breakers, &key);
    assert_eq!(refuse(&breakers, &key).1, Some(5_000));
    for expected_ms in [10_000, 20_000, 20_000] {
        let waited_ms = refuse(&breakers, &key).1.unwrap();
        advance_ms(waited_ms).await;
        let (probe, _) = grant(&breakers, &key);
        let reopened = breakers.record(probe, Outcome::Failure).expect("reopens");
        assert_eq!((reopened.from, reopened.to), (State::HalfOpen, State::Open));
        assert_eq!(refuse(&breakers, &key).1, Some(expected_ms));
    }

    // Closing resets it: the next opening is back to 5 s.
    advance_ms(20_000).await;
    let probes: Vec<_> = (0..3).map(|_| grant(&breakers, &key).0).collect();
    for probe in probes {
        breakers.record(probe, Outcome::Success);
    }
    assert_eq!(breakers.state(&key), Some(State::Closed));
    trip(&breakers, &key);
    assert_eq!(refuse(&breakers, &key).1, Some(5_000));
}

#[tokio::test(start_paused = true)]
async fn fixed_open_duration_when_the_cap_equals_it() {
    let breakers = breakers(BreakerOptions {
        max_open_duration_ms: 5_000,
        ..options()
    });
    let key = key();
    trip(&breakers, &key);
    for _ in 0..3 {
        advance_ms(5_000).await;
        let (probe, _) = grant(&breakers, &key);
        assert!(breakers.record(probe, Outcome::Failure).is_some());
        assert_eq!(refuse(&breakers, &key).1, Some(5_000));
    }
}
