//! Half-open breakers: a fixed number of probes decides between closed and open.

use trestle_breaker::{Breakers, Outcome, State, Ticket};

use crate::{advance_ms, breakers, call, grant, key, options, refuse, trip};

/// Trips a breaker, waits out the open duration and takes all 3 probes.
async fn half_open(breakers: &Breakers) -> Vec<Ticket> {
    let key = key();
    trip(breakers, &key);
    advance_ms(5_000).await;
    let probes: Vec<_> = (0..3).map(|_| grant(breakers, &key).0).collect();
    assert!(probes.iter().all(Ticket::is_probe));
    probes
}

#[tokio::test(start_paused = true)]
async fn half_open_allows_exactly_n_probes() {
    let breakers = breakers(options());
    let key = key();
    let mut probes = half_open(&breakers).await;
    assert_eq!(refuse(&breakers, &key), (State::HalfOpen, None));

    // A probe that succeeded used its turn: still no fourth call until the round ends.
    assert_eq!(
        breakers.record(probes.pop().unwrap(), Outcome::Success),
        None
    );
    assert_eq!(refuse(&breakers, &key), (State::HalfOpen, None));
    advance_ms(60_000).await;
    assert_eq!(refuse(&breakers, &key), (State::HalfOpen, None));
}

#[tokio::test(start_paused = true)]
async fn all_probes_succeeding_closes_it() {
    let breakers = breakers(options());
    let key = key();
    let probes = half_open(&breakers).await;
    let transitions: Vec<_> = probes
        .into_iter()
        .map(|probe| breakers.record(probe, Outcome::Success))
        .collect();
    let closed = transitions[2].clone().expect("the last probe closes it");
    assert_eq!(transitions[..2], [None, None]);
    assert_eq!((closed.from, closed.to), (State::HalfOpen, State::Closed));
    assert_eq!((closed.failure_rate, closed.window_calls), (0.0, 3));
    assert_eq!(breakers.state(&key), Some(State::Closed));

    // The window starts empty: the 10 failures that opened it, 5 s ago, are forgotten.
    for _ in 0..9 {
        assert_eq!(call(&breakers, &key, Outcome::Failure), None);
    }
    assert!(call(&breakers, &key, Outcome::Failure).is_some());
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_it() {
    let breakers = breakers(options());
    let key = key();
    let mut probes = half_open(&breakers).await.into_iter();
    assert_eq!(
        breakers.record(probes.next().unwrap(), Outcome::Success),
        None
    );
    let reopened = breakers
        .record(probes.next().unwrap(), Outcome::Failure)
        .expect("a failed probe reopens it");
    assert_eq!((reopened.from, reopened.to), (State::HalfOpen, State::Open));
    assert_eq!((reopened.failure_rate, reopened.window_calls), (0.5, 2));
    assert_eq!(refuse(&breakers, &key), (State::Open, Some(10_000)));

    // The last probe of the failed round answers late: it changes nothing.
    assert_eq!(
        breakers.record(probes.next().unwrap(), Outcome::Success),
        None
    );
    assert_eq!(breakers.state(&key), Some(State::Open));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_slot() {
    let breakers = breakers(options());
    let key = key();
    let mut probes = half_open(&breakers).await;
    drop(probes.pop());
    let (replacement, transition) = grant(&breakers, &key);
    assert!(replacement.is_probe());
    assert_eq!(transition, None);
    assert_eq!(refuse(&breakers, &key), (State::HalfOpen, None));

    probes.push(replacement);
    let closed: Vec<_> = probes
        .into_iter()
        .filter_map(|probe| breakers.record(probe, Outcome::Success))
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].to, State::Closed);
}
