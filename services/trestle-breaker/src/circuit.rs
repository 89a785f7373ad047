//! The state machine of one breaker, behind its own mutex.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use crate::window::{Tally, Window};
use crate::{BreakerKey, BreakerOptions, Outcome, State, Transition};

/// One breaker: its key, its options and its state.
#[derive(Debug)]
pub(crate) struct Breaker {
    pub(crate) key: BreakerKey,
    options: BreakerOptions,
    circuit: Mutex<Circuit>,
}

/// What [`Breaker::admit`] decided.
pub(crate) enum Admission {
    /// The call may go ahead; `seq` and `probe` go into its ticket.
    Granted {
        seq: u64,
        probe: bool,
        transition: Option<Transition>,
    },
    /// The call must not be made.
    Refused {
        state: State,
        retry_in_ms: Option<u64>,
    },
}

#[derive(Debug)]
struct Circuit {
    phase: Phase,
    /// Transitions so far. A ticket carries the value it was granted under; once the breaker
    /// has moved on, the ticket is stale and its outcome no longer counts.
    seq: u64,
    /// Outcomes while closed.
    window: Window,
    /// Consecutive failed probe rounds since the breaker last closed; doubles the open time.
    reopenings: u32,
    /// The figures that opened the breaker, repeated when it goes half-open.
    opened_with: Tally,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    HalfOpen {
        /// Probes granted and neither recorded nor dropped yet.
        in_flight: u32,
        /// Probes recorded as successful in this round.
        succeeded: u32,
    },
}

impl Phase {
    fn state(self) -> State {
        match self {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

impl Breaker {
    /// A closed breaker with an empty window starting at `now`.
    pub(crate) fn new(key: BreakerKey, options: BreakerOptions, now: Instant) -> Self {
        let window = Window::new(now, options.window_ms, options.window_buckets);
        Breaker {
            key,
            options,
            circuit: Mutex::new(Circuit {
                phase: Phase::Closed,
                seq: 0,
                window,
                reopenings: 0,
                opened_with: Tally::default(),
            }),
        }
    }

    /// The state as last changed by `acquire` or `record`. An open breaker whose open
    /// duration has passed still reads [`State::Open`] until the next acquire.
    pub(crate) fn state(&self) -> State {
        self.lock().phase.state()
    }

    /// Decides whether a call may be made at `now`; goes half-open if the open time is over.
    pub(crate) fn admit(&self, now: Instant) -> Admission {
        let mut circuit = self.lock();
        match circuit.phase {
            Phase::Closed => Admission::Granted {
                seq: circuit.seq,
                probe: false,
                transition: None,
            },
            Phase::Open { until } if now < until => Admission::Refused {
                state: State::Open,
                retry_in_ms: Some(ceil_ms(until - now)),
            },
            Phase::Open { .. } => {
                let opened_with = circuit.opened_with;
                let transition = circuit.enter(
                    &self.key,
                    Phase::HalfOpen {
                        in_flight: 1,
                        succeeded: 0,
                    },
                    opened_with,
                    now,
                );
                Admission::Granted {
                    seq: circuit.seq,
                    probe: true,
                    transition: Some(transition),
                }
            }
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => {
                if in_flight + succeeded < self.options.half_open_probes {
                    circuit.phase = Phase::HalfOpen {
                        in_flight: in_flight + 1,
                        succeeded,
                    };
                    Admission::Granted {
                        seq: circuit.seq,
                        probe: true,
                        transition: None,
                    }
                } else {
                    Admission::Refused {
                        state: State::HalfOpen,
                        retry_in_ms: None,
                    }
                }
            }
        }
    }

    /// Records the outcome of a call granted under `seq` at `started`, ending at `now`.
    pub(crate) fn settle(
        &self,
        seq: u64,
        started: Instant,
        outcome: Outcome,
        now: Instant,
    ) -> Option<Transition> {
        let slow = self.options.slow_call_ms.is_some_and(|slow_ms| {
            now.saturating_duration_since(started).as_millis() >= u128::from(slow_ms)
        });
        let failed = outcome == Outcome::Failure || slow;
        let mut circuit = self.lock();
        if circuit.seq != seq {
            // Granted before the last transition: what it says is already out of date.
            return None;
        }
        match circuit.phase {
            Phase::Closed => {
                circuit.window.record(now, failed);
                let tally = circuit.window.tally(now);
                let tripped = tally.calls >= self.options.minimum_calls
                    && tally.failure_rate() >= self.options.failure_rate_threshold;
                tripped.then(|| circuit.open(&self.key, &self.options, tally, now))
            }
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => {
                let in_flight = in_flight.saturating_sub(1);
                if failed {
                    circuit.reopenings = circuit.reopenings.saturating_add(1);
                    let probes = Tally {
                        calls: succeeded + 1,
                        failures: 1,
                    };
                    return Some(circuit.open(&self.key, &self.options, probes, now));
                }
                let succeeded = succeeded + 1;
                if succeeded < self.options.half_open_probes {
                    circuit.phase = Phase::HalfOpen {
                        in_flight,
                        succeeded,
                    };
                    return None;
                }
                circuit.window.clear();
                circuit.reopenings = 0;
                let probes = Tally {
                    calls: succeeded,
                    failures: 0,
                };
                Some(circuit.enter(&self.key, Phase::Closed, probes, now))
            }
            // Tickets are never granted while open, and opening bumps `seq`.
            Phase::Open { .. } => None,
        }
    }

    /// Gives back a ticket granted under `seq` that was dropped without an outcome.
    pub(crate) fn release(&self, seq: u64) {
        let mut circuit = self.lock();
        if circuit.seq != seq {
            return;
        }
        if let Phase::HalfOpen {
            in_flight,
            succeeded,
        } = circuit.phase
        {
            circuit.phase = Phase::HalfOpen {
                in_flight: in_flight.saturating_sub(1),
                succeeded,
            };
        }
    }

    fn lock(&self) -> MutexGuard<'_, Circuit> {
        // Every update completes before the guard drops, so a poisoned state is consistent.
        self.circuit.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Circuit {
    /// Opens for the duration `reopenings` calls for; `tally` is what tripped it.
    fn open(
        &mut self,
        key: &BreakerKey,
        options: &BreakerOptions,
        tally: Tally,
        now: Instant,
    ) -> Transition {
        self.opened_with = tally;
        let until = now + options.open_duration(self.reopenings);
        self.enter(key, Phase::Open { until }, tally, now)
    }

    /// Moves to `phase` and describes the move; the one place `seq` changes.
    fn enter(&mut self, key: &BreakerKey, phase: Phase, tally: Tally, now: Instant) -> Transition {
        let from = self.phase.state();
        self.phase = phase;
        self.seq += 1;
        Transition {
            key: key.clone(),
            from,
            to: phase.state(),
            failure_rate: tally.failure_rate(),
            window_calls: tally.calls,
            seq: self.seq,
            at: now,
        }
    }
}

/// Whole milliseconds, rounded up so a caller waiting that long finds the time has passed.
fn ceil_ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}
