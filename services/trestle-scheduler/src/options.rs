//! [`SchedulerOptions`]: weights, caps and buffer bounds, with documented defaults.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::scheduler::Scheduler;
use crate::tier::PerTier;
use trestle_tiers::TierTable;

/// Configuration of a [`Scheduler`]; build one with [`SchedulerOptions::build`].
///
/// Counts are records. The defaults suit one engine consumer serving ~10k companies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerOptions {
    /// Most records in flight (dispatched, not completed) at once, all companies together.
    /// Default 128.
    pub max_in_flight: usize,
    /// Deficit round-robin quantum per tier: on its turn a backlogged company may start this many
    /// records before the next company's turn, so throughput under contention is proportional to
    /// it. Not configuration of its own: the tier table's `scheduler_weight` (default starter 1,
    /// professional 3, premium 6, enterprise 12), which the engine copies in.
    #[serde(skip)]
    pub weights: PerTier<u32>,
    /// Most records of one company in flight at once, by tier, so no company takes all the slots.
    /// Not configuration of its own: the tier table's `max_in_flight` (default starter 2,
    /// professional 4, premium 8, enterprise 16), which the engine copies in.
    #[serde(skip)]
    pub max_in_flight_per_company: PerTier<u32>,
    /// A partition should be paused once this many of its records are offered but not yet
    /// dispatched. Default 1000.
    pub max_buffered_per_partition: usize,
    /// A paused partition may be resumed once at most this many of its records are buffered
    /// (hysteresis); below `max_buffered_per_partition`. Default 500.
    pub resume_buffered_per_partition: usize,
    /// Once this many records are buffered in total, every partition holding at least its share
    /// of it (this over the partitions known) should be paused. Default 10000.
    pub max_buffered: usize,
    /// Paused partitions may be resumed once at most this many records are buffered in total;
    /// below `max_buffered`. Default 5000.
    pub resume_buffered: usize,
    /// A partition should be paused once this many of its records lie between its committable
    /// offset and its last offered offset (one slow record holds the watermark back while the
    /// records after it finish; their offsets are remembered). Resumed below half of it.
    /// Default 100000.
    pub max_uncommitted_per_partition: usize,
    /// Longest commit metadata [`Scheduler::commit_point`] produces, in bytes. Must not exceed
    /// the brokers' `offset.metadata.max.bytes` (Kafka's default 4096). Default 4000.
    pub metadata_max_bytes: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            max_in_flight: 128,
            weights: TierTable::default().scheduler_weights(),
            max_in_flight_per_company: TierTable::default().max_in_flight(),
            max_buffered_per_partition: 1000,
            resume_buffered_per_partition: 500,
            max_buffered: 10_000,
            resume_buffered: 5000,
            max_uncommitted_per_partition: 100_000,
            metadata_max_bytes: 4000,
        }
    }
}

impl SchedulerOptions {
    /// Checks the options and builds an empty scheduler for payloads of type `T`.
    pub fn build<T>(self) -> Result<Scheduler<T>, Error> {
        self.validate()?;
        Ok(Scheduler::new(self))
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &'static str, reason: &str| {
            Err(Error::InvalidOption {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.max_in_flight == 0 {
            return invalid("max_in_flight", "must be at least 1");
        }
        for tier in crate::Tier::ALL {
            if *self.weights.get(tier) == 0 {
                return invalid("weights", "every tier's weight must be at least 1");
            }
            if *self.max_in_flight_per_company.get(tier) == 0 {
                return invalid(
                    "max_in_flight_per_company",
                    "every tier's cap must be at least 1",
                );
            }
        }
        if self.max_buffered_per_partition == 0 {
            return invalid("max_buffered_per_partition", "must be at least 1");
        }
        if self.resume_buffered_per_partition >= self.max_buffered_per_partition {
            return invalid(
                "resume_buffered_per_partition",
                "must be below max_buffered_per_partition",
            );
        }
        if self.max_buffered == 0 {
            return invalid("max_buffered", "must be at least 1");
        }
        if self.resume_buffered >= self.max_buffered {
            return invalid("resume_buffered", "must be below max_buffered");
        }
        if self.max_uncommitted_per_partition < 2 {
            return invalid("max_uncommitted_per_partition", "must be at least 2");
        }
        Ok(())
    }
}
