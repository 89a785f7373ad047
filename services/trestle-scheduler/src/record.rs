//! The records going in and out of the scheduler, and what it answers about them.

use uuid::Uuid;

use crate::tier::Tier;

/// A record of an assigned partition, offered to [`Scheduler::offer`](crate::Scheduler::offer)
/// in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<T> {
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset; increasing within a partition.
    pub offset: i64,
    /// The company the record belongs to; fairness and caps are per company.
    pub company: Uuid,
    /// The company's tier. The most recently offered record sets it for the whole company.
    pub tier: Tier,
    /// Records of one company sharing an ordering key run one at a time, in log order (the job,
    /// notebook or document they concern). `None`: independent of every other record.
    pub ordering_key: Option<String>,
    /// Whatever the engine needs to run it.
    pub payload: T,
}

/// A record [`Scheduler::next`](crate::Scheduler::next) says to start now. Pass its partition
/// and offset to [`Scheduler::complete`](crate::Scheduler::complete) when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch<T> {
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
    /// The company it belongs to.
    pub company: Uuid,
    /// The company's tier when it was dispatched.
    pub tier: Tier,
    /// Its ordering key, as offered.
    pub ordering_key: Option<String>,
    /// The payload, as offered.
    pub payload: T,
}

/// What [`Scheduler::offer`](crate::Scheduler::offer) did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offered {
    /// Queued: [`Scheduler::next`](crate::Scheduler::next) will return it once its company's
    /// turn, caps and ordering key allow.
    Queued,
    /// Already finished — below the committable offset, or among the finished offsets restored
    /// after a restart — so dropped. Do not run it.
    AlreadyDone,
    /// Already queued or in flight (a redelivery after a seek), so dropped.
    Duplicate,
}

/// What [`Scheduler::complete`](crate::Scheduler::complete) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Completed {
    /// The record was in flight; it is finished and counts towards the partition's watermark.
    Finished,
    /// The record's partition was revoked (or restored) while it ran: its slots and ordering key
    /// are released, no offset is recorded.
    Revoked,
    /// Nothing with this partition and offset is in flight; nothing changed.
    Unknown,
}

/// A record still in flight when its partition was revoked; see
/// [`Scheduler::revoke`](crate::Scheduler::revoke).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InFlight {
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
    /// The company it belongs to.
    pub company: Uuid,
    /// Its ordering key.
    pub ordering_key: Option<String>,
}

/// Where to commit a partition: the offset and the metadata to store with it; see
/// [`Scheduler::commit_point`](crate::Scheduler::commit_point).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitPoint {
    /// The next offset to consume: every offered record below it is finished.
    pub offset: i64,
    /// The finished offsets beyond `offset`, encoded by
    /// [`FinishedBeyond::encode`](crate::FinishedBeyond::encode).
    pub metadata: String,
}
