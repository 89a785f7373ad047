//! The registry of breakers, one per key, created on first use.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::time::Instant;

use crate::circuit::{Admission, Breaker};
use crate::{BreakerKey, BreakersOptions, Error, Outcome, Permit, State, Ticket, Transition};

/// Every breaker of a process, keyed by (provider, cloud project, region).
///
/// Cheap to share behind an `Arc`; every method takes `&self`. Each breaker has its own
/// mutex, held only for a few arithmetic steps and never across an `.await`, so tasks calling
/// different providers do not contend.
#[derive(Debug)]
pub struct Breakers {
    options: BreakersOptions,
    breakers: RwLock<HashMap<BreakerKey, Arc<Breaker>>>,
}

impl Breakers {
    /// A registry with no breakers yet; fails if an options block is out of range.
    pub fn new(options: BreakersOptions) -> Result<Self, Error> {
        options.validate()?;
        Ok(Breakers {
            options,
            breakers: RwLock::default(),
        })
    }

    /// Asks whether a call for `key` may be made now, creating a closed breaker for the key
    /// on first use.
    ///
    /// An open breaker whose open duration has passed goes half-open here, and the permit
    /// that grants its first probe carries that transition.
    pub fn acquire(&self, key: &BreakerKey) -> Permit {
        let breaker = self.breaker(key);
        let now = Instant::now();
        match breaker.admit(now) {
            Admission::Granted {
                seq,
                probe,
                transition,
            } => Permit::Granted {
                ticket: Ticket {
                    breaker,
                    seq,
                    probe,
                    started: now,
                    settled: false,
                },
                transition,
            },
            Admission::Refused { state, retry_in_ms } => Permit::Refused { state, retry_in_ms },
        }
    }

    /// Records how the call `ticket` was granted for went; returns the transition it caused,
    /// if any, for the caller to publish.
    pub fn record(&self, mut ticket: Ticket, outcome: Outcome) -> Option<Transition> {
        ticket.settled = true;
        ticket
            .breaker
            .settle(ticket.seq, ticket.started, outcome, Instant::now())
    }

    /// The state of `key`'s breaker, `None` if it was never acquired (it would start closed).
    ///
    /// States change only in `acquire` and `record`: an open breaker whose open duration has
    /// passed reads [`State::Open`] until the next acquire moves it to half-open.
    pub fn state(&self, key: &BreakerKey) -> Option<State> {
        let breakers = self.breakers.read().unwrap_or_else(PoisonError::into_inner);
        breakers.get(key).map(|breaker| breaker.state())
    }

    fn breaker(&self, key: &BreakerKey) -> Arc<Breaker> {
        if let Some(breaker) = self
            .breakers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return Arc::clone(breaker);
        }
        let mut breakers = self
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let breaker = breakers.entry(key.clone()).or_insert_with(|| {
            let options = self.options.for_provider(&key.provider).clone();
            Arc::new(Breaker::new(key.clone(), options, Instant::now()))
        });
        Arc::clone(breaker)
    }
}
