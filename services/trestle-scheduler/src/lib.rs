//! The fair scheduler inside an engine consumer: pure logic, no I/O (the "fairness with order"
//! invariant in docs/ARCHITECTURE.md).
//!
//! The consumer offers every record it polls from its assigned partitions; the scheduler decides
//! which record starts next, and tells the consumer which offset of each partition it may
//! commit.
//!
//! ```
//! use trestle_scheduler::{Offered, Pending, SchedulerOptions, Tier};
//!
//! let mut scheduler = SchedulerOptions::default().build::<&str>()?;
//! scheduler.restore(0, 40, &[]); // on assignment: committed offset and commit metadata
//! let company = uuid::Uuid::from_u128(7);
//! let record = Pending {
//!     partition: 0,
//!     offset: 42,
//!     company,
//!     tier: Tier::Professional,
//!     ordering_key: Some("job-1".into()),
//!     payload: "run the job",
//! };
//! assert_eq!(scheduler.offer(record), Offered::Queued);
//! while let Some(dispatch) = scheduler.next() {
//!     // ... run dispatch.payload, then:
//!     scheduler.complete(dispatch.partition, dispatch.offset);
//! }
//! let commit = scheduler.commit_point(0).unwrap();
//! assert_eq!((commit.offset, commit.metadata.as_str()), (43, "f1:43"));
//! # Ok::<(), trestle_scheduler::Error>(())
//! ```
//!
//! # Guarantees
//!
//! - **Fairness.** Companies with a record they may start take turns (deficit round-robin): on
//!   its turn a company starts up to its tier's weight of records (default starter 1,
//!   professional 3, premium 6, enterprise 12). A flooding company cannot starve a quiet one:
//!   the quiet one's record starts within one round, after at most the weights of the companies
//!   ahead of it. Backlogged companies get throughput in proportion to their weights.
//! - **Caps.** At most `max_in_flight` records in flight in total, and at most the tier's
//!   `max_in_flight_per_company` of one company (default 2, 4, 8, 16).
//! - **Order where it matters.** Records of one company with the same ordering key start one at
//!   a time, in offer (log) order, each only after the previous one completed. A record never
//!   overtakes an earlier record of its company with the same key; records with different keys
//!   or with no key (`None`: independent) run side by side.
//! - **Offsets.** A partition's [committable](Scheduler::committable) offset is the offset of
//!   its lowest offered-but-unfinished record, or the last offered offset + 1 when all are
//!   finished. It is defined over offered records so that offsets that never reach the
//!   scheduler (transaction control markers) do not hold it back. Finished offsets above it are
//!   kept and encoded into the commit metadata ([`FinishedBeyond`]), so after a restart
//!   [`Scheduler::restore_from_commit`] makes [`Scheduler::offer`] answer
//!   [`Offered::AlreadyDone`] for them instead of running them again.
//! - **Bounded buffers.** [`Scheduler::should_pause`] / [`Scheduler::should_resume`] tell the
//!   consumer when to pause and resume a partition, with hysteresis, so buffered records and
//!   remembered offsets stay bounded.
//! - **Revocation.** [`Scheduler::revoke`] drops a partition's queued records and hands back its
//!   in-flight ones; their later completion is harmless.
//!
//! Per operation the cost is O(1) hash look-ups plus O(log n) in one company's queue or one
//! partition's uncommitted offsets; nothing scans all companies except `revoke`.
//!
//! # Engine integration
//!
//! On assignment: fetch the committed offset and metadata, call
//! [`restore_from_commit`](Scheduler::restore_from_commit), seek to the committed offset. On
//! each poll: detach the record, [`offer`](Scheduler::offer) it, pause the partition if
//! [`should_pause`](Scheduler::should_pause). Then start records while
//! [`next`](Scheduler::next) returns some; on each completion call
//! [`complete`](Scheduler::complete) and resume paused partitions that
//! [`should_resume`](Scheduler::should_resume). Periodically (and on revoke) commit each
//! partition's [`commit_point`](Scheduler::commit_point): its offset with its metadata. Only
//! complete a record once its effects are durable, since its offset may be committed at once.

mod company;
mod error;
mod metadata;
mod options;
mod partition;
mod record;
mod scheduler;
mod stats;
mod tier;

pub use error::Error;
pub use metadata::{FinishedBeyond, MAX_DECODED_OFFSETS};
pub use options::SchedulerOptions;
pub use record::{CommitPoint, Completed, Dispatch, InFlight, Offered, Pending};
pub use scheduler::Scheduler;
pub use stats::Stats;
pub use tier::{PerTier, Tier};
