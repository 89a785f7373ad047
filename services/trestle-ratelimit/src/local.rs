//! The local fallback: the same GCRA in this process's memory, on the monotonic clock.
//!
//! Used only while Redis does not answer, with this instance's share of each limit. Its state is
//! dropped when Redis answers again; entries whose allowance is full again are pruned as the map
//! grows, so memory follows the number of companies active in the last burst window.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use uuid::Uuid;

use crate::gcra::{self, Params, Verdict};

/// Prune once the map has grown by this many entries since the last prune.
const PRUNE_EVERY: usize = 4096;

pub(crate) struct LocalGcra {
    epoch: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// TAT per company, microseconds since `epoch`.
    tats: HashMap<Uuid, u64>,
    /// Size after the last prune.
    pruned_len: usize,
}

impl LocalGcra {
    pub(crate) fn new() -> LocalGcra {
        LocalGcra {
            epoch: Instant::now(),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The map only holds plain numbers, valid whatever a panicking holder did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn decide(&self, company_id: Uuid, params: Params, n: u32) -> Verdict {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut state = self.state();
        let (verdict, new_tat) = gcra::step(params, state.tats.get(&company_id).copied(), now, n);
        if let Some(tat) = new_tat {
            state.tats.insert(company_id, tat);
            if state.tats.len() >= state.pruned_len + PRUNE_EVERY {
                state.tats.retain(|_, tat| *tat > now);
                state.pruned_len = state.tats.len();
            }
        }
        verdict
    }

    /// Forgets everything (Redis answers again and holds the shared state).
    pub(crate) fn clear(&self) {
        *self.state() = State::default();
    }
}
