//! Helpers shared by the tests: companies, records and a drained dispatch list.

use trestle_scheduler::{Dispatch, Pending, Scheduler, SchedulerOptions, Tier};
use uuid::Uuid;

/// Company number `n`.
pub(crate) fn company(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A record whose payload is its offset.
pub(crate) fn record(
    partition: i32,
    offset: i64,
    company: Uuid,
    tier: Tier,
    key: Option<&str>,
) -> Pending<i64> {
    Pending {
        partition,
        offset,
        company,
        tier,
        ordering_key: key.map(str::to_owned),
        payload: offset,
    }
}

/// A scheduler with `options`.
pub(crate) fn scheduler(options: SchedulerOptions) -> Scheduler<i64> {
    options.build().expect("valid options")
}

/// Everything `next` returns until it returns `None`.
pub(crate) fn drain(scheduler: &mut Scheduler<i64>) -> Vec<Dispatch<i64>> {
    std::iter::from_fn(|| scheduler.next()).collect()
}

/// The offsets of `dispatches`.
pub(crate) fn offsets(dispatches: &[Dispatch<i64>]) -> Vec<i64> {
    dispatches.iter().map(|d| d.offset).collect()
}
