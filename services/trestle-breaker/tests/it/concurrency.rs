//! Many threads on one breaker: the probe limit and the transitions hold under contention.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Barrier;
use std::thread;

use tokio::runtime::Handle;
use trestle_breaker::{Breakers, Outcome, Permit, State};

use crate::{advance_ms, breakers, grant, key, options, trip};

const THREADS: usize = 16;

/// Runs `f` on `THREADS` threads released together, each on the test's paused clock.
fn on_threads<T: Send>(f: impl Fn() -> T + Sync) -> Vec<T> {
    let handle = Handle::current();
    let barrier = Barrier::new(THREADS);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let _clock = handle.enter();
                    barrier.wait();
                    f()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    })
}

async fn open_and_wait(breakers: &Breakers) {
    trip(breakers, &key());
    advance_ms(5_000).await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_acquire_never_grants_more_than_n_probes() {
    let breakers = breakers(options());
    open_and_wait(&breakers).await;

    let permits: Vec<Permit> = on_threads(|| breakers.acquire(&key()));
    let mut probes = Vec::new();
    let mut transitions = Vec::new();
    for permit in permits {
        if let Permit::Granted { ticket, transition } = permit {
            probes.push(ticket);
            transitions.extend(transition);
        }
    }
    assert_eq!(probes.len(), 3);
    assert_eq!(transitions.len(), 1, "one thread reports open → half-open");
    assert_eq!(transitions[0].to, State::HalfOpen);

    // Probes taken and given back in a tight loop: never more than 3 held at once.
    drop(probes);
    let held = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    let grants: Vec<u32> = on_threads(|| {
        let mut grants = 0;
        for _ in 0..2_000 {
            if let Permit::Granted { ticket, transition } = breakers.acquire(&key()) {
                assert_eq!(transition, None);
                grants += 1;
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                thread::yield_now();
                held.fetch_sub(1, Ordering::SeqCst);
                drop(ticket);
            }
        }
        grants
    });
    assert!(
        most.load(Ordering::SeqCst) <= 3,
        "held {most:?} probes at once"
    );
    assert!(grants.iter().sum::<u32>() >= 3);
    assert_eq!(breakers.state(&key()), Some(State::HalfOpen));
}

#[tokio::test(start_paused = true)]
async fn concurrent_outcomes_report_each_transition_once() {
    // Probes succeeding together close the breaker exactly once.
    let breakers = breakers(options());
    open_and_wait(&breakers).await;
    let probes: Vec<_> = (0..3).map(|_| grant(&breakers, &key()).0).collect();
    let probes = std::sync::Mutex::new(probes);
    let closed: Vec<_> = on_threads(|| {
        let probe = probes.lock().unwrap().pop();
        probe.and_then(|probe| breakers.record(probe, Outcome::Success))
    });
    let closed: Vec<_> = closed.into_iter().flatten().collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (closed[0].from, closed[0].to),
        (State::HalfOpen, State::Closed)
    );

    // Many failing calls at once open it exactly once.
    let opened: Vec<_> = on_threads(|| {
        (0..50)
            .filter_map(|_| match breakers.acquire(&key()) {
                Permit::Granted { ticket, .. } => breakers.record(ticket, Outcome::Failure),
                Permit::Refused { .. } => None,
            })
            .collect::<Vec<_>>()
    });
    let opened: Vec<_> = opened.into_iter().flatten().collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!((opened[0].from, opened[0].to), (State::Closed, State::Open));
    assert_eq!(opened[0].seq, 4);
}
