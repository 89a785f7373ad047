//! [`Stats`]: a snapshot of the scheduler's queues for telemetry.

use crate::tier::{PerTier, Tier};

/// Counts at one instant; see [`Scheduler::stats`](crate::Scheduler::stats). Labels derived from
/// it are bounded: tiers, never companies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records offered and not yet dispatched, by the tier of their company.
    pub queued: PerTier<usize>,
    /// Records dispatched and not completed (revoked partitions' included), by tier.
    pub in_flight: PerTier<usize>,
    /// Companies with a record queued or in flight.
    pub companies_active: usize,
    /// Companies waiting in the round-robin for a turn (with a record they may start).
    pub companies_waiting: usize,
    /// Partitions with offset state (assigned and restored, or offered to).
    pub partitions: usize,
}

impl Stats {
    /// Queued records, all tiers.
    pub fn queued_total(&self) -> usize {
        Tier::ALL.iter().map(|&t| self.queued.get(t)).sum()
    }

    /// In-flight records, all tiers.
    pub fn in_flight_total(&self) -> usize {
        Tier::ALL.iter().map(|&t| self.in_flight.get(t)).sum()
    }
}
