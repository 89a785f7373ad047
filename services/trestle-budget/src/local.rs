//! The fallback while Redis does not answer: this instance's share of what it last saw left of
//! each budget, and the settles and releases waiting to be sent to Redis.
//!
//! Every Redis reply tells this instance a company's usage for the month (`seen`). During an
//! outage, a company-month may take, on this instance, `remaining / fallback_instances` of each
//! limit, where `remaining = limit − used − reserved` as last seen, or
//! `limit × fallback_unseen_percent / 100` if this instance has not seen it this month. The
//! grants of an outage are forgotten when it ends (Redis holds the truth again); completions made
//! during it are queued and sent to Redis then.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use crate::limits::{Month, MonthlyLimits};
use crate::outcome::{Completion, LimitKind, Reservation, Source, Usage};

/// Forget all `seen` usage once this many company-months are held (memory bound; the next
/// reply of each company fills it again). Far above the companies one region serves a month.
const MAX_SEEN: usize = 1_000_000;

type Key = (Uuid, Month);

/// How large a share an instance takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share {
    pub(crate) instances: u32,
    pub(crate) unseen_percent: u8,
}

/// A local refusal: which limit, and the usage this instance knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shortfall {
    pub(crate) which: LimitKind,
    pub(crate) limit: i64,
    pub(crate) used: i64,
    pub(crate) reserved: i64,
}

/// A settle (`actual` spent) or release (`None`) waiting for Redis.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) reservation: Reservation,
    pub(crate) actual_micro_usd: Option<i64>,
}

pub(crate) struct Local {
    max_queued: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seen: HashMap<Key, Usage>,
    /// This outage's local grants, on top of what was seen (`None`: not seen).
    granted: HashMap<Key, (Option<Usage>, Usage)>,
    queued: VecDeque<Queued>,
    queued_ids: HashSet<Uuid>,
}

impl Local {
    pub(crate) fn new(max_queued: usize) -> Local {
        Local {
            max_queued,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Plain numbers and queues, valid whatever a panicking holder did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Redis reported this usage.
    pub(crate) fn saw(&self, company_id: Uuid, month: Month, usage: Usage) {
        let mut state = self.state();
        if state.seen.len() >= MAX_SEEN {
            state.seen.clear();
        }
        state.seen.insert((company_id, month), usage);
    }

    /// Grants one query and `estimate` from this instance's share, or says which limit it hit.
    pub(crate) fn reserve(
        &self,
        company_id: Uuid,
        month: Month,
        limits: MonthlyLimits,
        estimate_micro_usd: i64,
        share: Share,
    ) -> Result<(), Shortfall> {
        let mut state = self.state();
        let key = (company_id, month);
        let seen = state.seen.get(&key).copied();
        let (base, local) = state.granted.entry(key).or_insert((seen, Usage::default()));
        let known = base.unwrap_or_default();
        let queries = limits.queries.map(|q| i64::try_from(q).unwrap_or(i64::MAX));
        let checks = [
            (
                LimitKind::Queries,
                queries,
                known.queries_used,
                known.queries_reserved,
                local.queries_used + local.queries_reserved,
                local.queries_reserved,
                1,
            ),
            (
                LimitKind::Cost,
                limits.cost_micro_usd,
                known.cost_spent_micro_usd,
                known.cost_reserved_micro_usd,
                local.cost_spent_micro_usd + local.cost_reserved_micro_usd,
                local.cost_reserved_micro_usd,
                estimate_micro_usd,
            ),
        ];
        for (which, limit, used, reserved, taken, local_reserved, need) in checks {
            let Some(limit) = limit else { continue };
            let allowance = allowance(limit, base.map(|_| used + reserved), share);
            if i128::from(taken) + i128::from(need) > allowance {
                let local_used = taken - local_reserved;
                return Err(Shortfall {
                    which,
                    limit,
                    used: used.saturating_add(local_used),
                    reserved: reserved.saturating_add(local_reserved),
                });
            }
        }
        local.queries_reserved += 1;
        local.cost_reserved_micro_usd = local
            .cost_reserved_micro_usd
            .saturating_add(estimate_micro_usd);
        Ok(())
    }

    /// Applies a settle or release to this outage's grants and queues it for Redis. Returns
    /// what happened and how many queued completions were dropped to make room.
    pub(crate) fn complete(
        &self,
        reservation: &Reservation,
        actual_micro_usd: Option<i64>,
    ) -> (Completion, usize) {
        let mut state = self.state();
        if !state.queued_ids.insert(reservation.id) {
            return (Completion::AlreadyDone, 0);
        }
        if reservation.source == Source::LocalFallback {
            let key = (reservation.company_id, reservation.month);
            if let Some((_, local)) = state.granted.get_mut(&key) {
                local.queries_reserved -= 1;
                local.cost_reserved_micro_usd -= reservation.estimate_micro_usd;
                if let Some(actual) = actual_micro_usd {
                    local.queries_used += 1;
                    local.cost_spent_micro_usd = local.cost_spent_micro_usd.saturating_add(actual);
                }
            }
        }
        state.queued.push_back(Queued {
            reservation: reservation.clone(),
            actual_micro_usd,
        });
        let mut dropped = 0;
        while state.queued.len() > self.max_queued {
            if let Some(oldest) = state.queued.pop_front() {
                state.queued_ids.remove(&oldest.reservation.id);
                dropped += 1;
            }
        }
        (Completion::Queued, dropped)
    }

    /// Redis answers again: its state is the truth; forget this outage's grants.
    pub(crate) fn outage_ended(&self) {
        self.state().granted.clear();
    }

    /// Takes up to `n` queued completions, oldest first, to send to Redis.
    pub(crate) fn take_queued(&self, n: usize) -> Vec<Queued> {
        let mut state = self.state();
        let n = n.min(state.queued.len());
        let taken: Vec<Queued> = state.queued.drain(..n).collect();
        for queued in &taken {
            state.queued_ids.remove(&queued.reservation.id);
        }
        taken
    }

    /// Puts back completions Redis did not take, in front, in order.
    pub(crate) fn requeue(&self, queued: Vec<Queued>) {
        let mut state = self.state();
        for queued in queued.into_iter().rev() {
            if state.queued_ids.insert(queued.reservation.id) {
                state.queued.push_front(queued);
            }
        }
    }

    pub(crate) fn has_queued(&self) -> bool {
        !self.state().queued.is_empty()
    }
}

/// How much of `limit` this instance may take on its own: its share of what was left when last
/// seen (`taken` = used + reserved), or of the unseen percentage.
fn allowance(limit: i64, taken: Option<i64>, share: Share) -> i128 {
    let limit = i128::from(limit);
    let remaining = match taken {
        Some(taken) => limit - i128::from(taken),
        None => limit * i128::from(share.unseen_percent) / 100,
    };
    remaining.max(0) / i128::from(share.instances.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARE: Share = Share {
        instances: 2,
        unseen_percent: 10,
    };

    fn month() -> Month {
        Month::new(2025, 5).unwrap()
    }

    fn grants(local: &Local, company: Uuid, limits: MonthlyLimits, estimate: i64) -> usize {
        (0..1000)
            .take_while(|_| {
                local
                    .reserve(company, month(), limits, estimate, SHARE)
                    .is_ok()
            })
            .count()
    }

    #[test]
    fn grants_this_instances_share_of_what_was_left_when_last_seen() {
        let local = Local::new(10);
        let company = Uuid::new_v4();
        let seen = Usage {
            queries_used: 6,
            queries_reserved: 4,
            ..Usage::default()
        };
        local.saw(company, month(), seen);
        // (20 − 10) / 2 instances.
        assert_eq!(
            grants(&local, company, MonthlyLimits::new(Some(20), None), 0),
            5
        );
        let refusal = local
            .reserve(
                company,
                month(),
                MonthlyLimits::new(Some(20), None),
                0,
                SHARE,
            )
            .unwrap_err();
        assert_eq!(
            refusal,
            Shortfall {
                which: LimitKind::Queries,
                limit: 20,
                used: 6,
                reserved: 9
            }
        );
    }

    #[test]
    fn grants_an_unseen_company_its_share_of_the_unseen_percentage() {
        let local = Local::new(10);
        // 10 % of $10 = $1, half of it here: five calls of 10 cents.
        let limits = MonthlyLimits::new(None, Some(10_000_000));
        assert_eq!(grants(&local, Uuid::new_v4(), limits, 100_000), 5);
        assert_eq!(
            grants(&local, Uuid::new_v4(), MonthlyLimits::UNLIMITED, 1),
            1000
        );
    }

    #[test]
    fn a_local_settle_counts_its_actual_cost_once_and_is_queued_once() {
        let local = Local::new(10);
        let company = Uuid::new_v4();
        local.saw(company, month(), Usage::default());
        let limits = MonthlyLimits::new(None, Some(1_000));
        local.reserve(company, month(), limits, 400, SHARE).unwrap();
        let reservation = Reservation {
            id: Uuid::new_v4(),
            company_id: company,
            month: month(),
            estimate_micro_usd: 400,
            reserved_at_ms: 0,
            source: Source::LocalFallback,
        };
        assert_eq!(
            local.complete(&reservation, Some(100)),
            (Completion::Queued, 0)
        );
        assert_eq!(
            local.complete(&reservation, Some(100)),
            (Completion::AlreadyDone, 0)
        );
        // 500 allowed here, 100 spent: 400 more fit, 401 do not.
        assert!(local.reserve(company, month(), limits, 401, SHARE).is_err());
        local.reserve(company, month(), limits, 400, SHARE).unwrap();
        let queued = local.take_queued(10);
        assert_eq!(queued.len(), 1);
        assert!(!local.has_queued());
        local.requeue(queued);
        assert!(local.has_queued());
    }

    #[test]
    fn drops_the_oldest_completions_beyond_the_queue_bound() {
        let local = Local::new(2);
        let reservation = |n: u128| Reservation {
            id: Uuid::from_u128(n),
            company_id: Uuid::nil(),
            month: month(),
            estimate_micro_usd: 0,
            reserved_at_ms: 0,
            source: Source::Redis,
        };
        for n in 0..3 {
            let (_, dropped) = local.complete(&reservation(n), None);
            assert_eq!(dropped, usize::from(n == 2));
        }
        let kept: Vec<Uuid> = local
            .take_queued(10)
            .iter()
            .map(|q| q.reservation.id)
            .collect();
        assert_eq!(kept, [Uuid::from_u128(1), Uuid::from_u128(2)]);
    }
}
