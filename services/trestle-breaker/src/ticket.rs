//! What `acquire` hands out: a permit, and with it a ticket to record the call's outcome on.

use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;

use crate::circuit::Breaker;
use crate::{BreakerKey, State, Transition};

/// The answer to [`crate::Breakers::acquire`].
#[derive(Debug)]
#[must_use = "a granted permit carries a ticket to record and maybe a transition to publish"]
pub enum Permit {
    /// Make the call, then pass `ticket` to [`crate::Breakers::record`].
    Granted {
        /// Proof of the grant; record the call's outcome on it.
        ticket: Ticket,
        /// Set when this acquire moved the breaker from open to half-open (this call is then
        /// its first probe). Publish it.
        transition: Option<Transition>,
    },
    /// Do not make the call: fall back to the next provider in the chain or the cache.
    Refused {
        /// [`State::Open`], or [`State::HalfOpen`] with every probe already taken.
        state: State,
        /// When open: milliseconds until the breaker lets probes through. When half-open:
        /// `None`, since it depends on when the probes in flight answer.
        retry_in_ms: Option<u64>,
    },
}

impl Permit {
    /// Whether the call may be made.
    pub fn is_granted(&self) -> bool {
        matches!(self, Permit::Granted { .. })
    }
}

/// How a call went, as far as the provider's health is concerned.
///
/// Outcomes that say nothing about the provider — the request was invalid, the task was
/// cancelled, the engine is shutting down — should not be recorded at all: drop the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The provider answered. Counts as a failure anyway if it took `slow_call_ms` or longer.
    Success,
    /// The provider failed: an error, a timeout, a 5xx, a 429 quota refusal.
    Failure,
}

/// A granted call, to be passed to [`crate::Breakers::record`] with its outcome.
///
/// **A ticket dropped without being recorded is released, not counted:** the call leaves no
/// trace in the window, and if it was a half-open probe its slot is freed for another probe.
/// Dropping happens on cancellation (shutdown, a revoked partition) or on purpose for
/// outcomes that say nothing about the provider; none of those should open a breaker. A call
/// the engine gave up on because it took too long is a failure: record it as
/// [`Outcome::Failure`].
///
/// A ticket granted before its breaker last changed state (say, a call still in flight when
/// the breaker opened) is stale: recording it changes nothing.
pub struct Ticket {
    pub(crate) breaker: Arc<Breaker>,
    pub(crate) seq: u64,
    pub(crate) probe: bool,
    pub(crate) started: Instant,
    /// Set once recorded, so dropping does not release it a second time.
    pub(crate) settled: bool,
}

impl Ticket {
    /// The breaker this call belongs to.
    pub fn key(&self) -> &BreakerKey {
        &self.breaker.key
    }

    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// When the call was granted; with `slow_call_ms`, the call's duration runs from here.
    pub fn started(&self) -> Instant {
        self.started
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("key", &self.breaker.key)
            .field("seq", &self.seq)
            .field("probe", &self.probe)
            .field("started", &self.started)
            .finish()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.release(self.seq);
        }
    }
}
