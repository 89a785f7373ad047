//! The workflow runtime every Trestle workflow runs on: the AI request workflow (engine), tenant
//! onboarding, and the notebook and document workflows after them.
//!
//! A workflow consumes one topic (read_committed). Each polled record is *admitted* — decoded
//! and validated into the workflow's item, with its company, tier and ordering key — or
//! dead-lettered with the reason. Admitted items wait in the fair scheduler (deficit
//! round-robin by tier, per-company caps, one item per ordering key in flight); what it
//! dispatches runs as a *step* on a tokio task of its own, which returns the events the record
//! leads to. Finished records' events wait in memory until the next commit, which publishes
//! them together with every partition's commit point (watermark + finished-beyond metadata) in
//! one Kafka transaction. A failed commit is aborted and retried with the same events; a
//! revoked partition's unpublished events are dropped (its new owner redoes those records).
//!
//! So a workflow's outputs are exactly-once for read_committed consumers and its steps are
//! at-least-once: every external call a step makes must be idempotent (an id chosen by us,
//! derived from the record, passed to the service).
//!
//! **Architecture invariant:** a workflow writes to Kafka only inside a transaction that also
//! carries the commit points of the records whose outputs it holds.

mod commit;
mod error;
mod partitions;
mod rebalance;
mod running;
mod session;

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;
use trestle_events::Event;
use trestle_kafka::{run_sessions, session_backoff, KafkaOptions, OwnedRecord, Shutdown};
use trestle_scheduler::{SchedulerOptions, Tier};
use uuid::Uuid;

pub use error::Error;

use self::session::Session;

/// One workflow: what it makes of a record, and the step that runs it.
pub trait Workflow: Send + Sync + 'static {
    /// An admitted record, as the step needs it.
    type Item: Send + Sync + 'static;

    /// Decodes and validates a polled record. `Err(reason)` sends the record, byte for byte,
    /// to the dead-letter topic with the reason.
    fn admit(&self, record: &OwnedRecord) -> Result<Admitted<Self::Item>, String>;

    /// Runs one admitted record to the events it leads to; on a task of its own. Runs at least
    /// once per record (again after a crash or a rebalance before its commit).
    fn step(
        self: Arc<Self>,
        item: Arc<Self::Item>,
    ) -> impl Future<Output = Vec<Event>> + Send + 'static;

    /// The events of a record whose step panicked (a bug), so the record still ends and its
    /// partition keeps committing.
    fn panicked(&self, item: &Self::Item) -> Vec<Event>;
}

/// A record the workflow accepted, with what the scheduler needs.
pub struct Admitted<T> {
    /// Whose record it is: fairness is per company.
    pub company: Uuid,
    pub tier: Tier,
    /// Records with the same key run one at a time, in log order; `None`: no order needed.
    pub ordering_key: Option<String>,
    pub item: T,
}

/// How the runtime picks the next record; `fair` in production. The baselines to measure
/// against (docs/benchmarks.md) exist only with the `bench` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchMode {
    /// Deficit round-robin over companies weighted by tier, per-company caps, ordering keys.
    Fair,
    /// One queue in log order for everyone (ordering keys still honoured), no per-company caps.
    #[cfg(feature = "bench")]
    Fifo,
    /// Classic in-order consumption: one record per partition at a time.
    #[cfg(feature = "bench")]
    PartitionOrder,
}

/// Where and how a workflow runs.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub kafka: KafkaOptions,
    /// Logical name of the topic consumed (e.g. `ai-requests`).
    pub topic: &'static str,
    /// The workflow's name, its origin in dead letters (e.g. `engine`).
    pub name: &'static str,
    /// Consumer group shared by all instances of the workflow.
    pub group_id: String,
    /// This instance's stable identity: it names the transactional id (a restart fences its
    /// predecessor's open transaction at once) and is the static group membership id. Empty:
    /// a random id per start.
    pub instance_id: String,
    /// Longest time between commits (one Kafka transaction each).
    pub commit_interval_ms: u64,
    /// Commit early once this many events wait to be published.
    pub commit_max_records: usize,
    /// On shutdown, how long running steps may finish before the rest is left to be redone.
    pub shutdown_grace_ms: u64,
    pub dispatch: DispatchMode,
    /// The fair scheduler's bounds, weights and per-company caps.
    pub scheduler: SchedulerOptions,
}

impl RuntimeOptions {
    /// The scheduler options for the dispatch mode: the baselines put every record under one
    /// pseudo-company, so its cap is lifted to the global one.
    fn scheduler_options(&self) -> SchedulerOptions {
        let mut options = self.scheduler.clone();
        if self.dispatch != DispatchMode::Fair {
            let all = options.max_in_flight as u32;
            options.max_in_flight_per_company.enterprise = all;
            options.weights.enterprise = all;
        }
        options
    }
}

/// Runs `workflow` until `shutdown` resolves; transient failures restart the session (a new
/// consumer and transactional producer, from the committed offsets) with backoff. `side` are
/// events that belong to no record (e.g. circuit breaker transitions): each goes out in the
/// next commit. Needs the multi-threaded tokio runtime (the blocking transaction calls run in
/// `block_in_place`).
pub async fn run<W: Workflow>(
    workflow: Arc<W>,
    options: RuntimeOptions,
    side: UnboundedReceiver<Event>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    options
        .scheduler_options()
        .build::<()>()
        .map_err(Error::Scheduler)?;
    // Sessions run one after another; each borrows the side events for its lifetime.
    let side = &tokio::sync::Mutex::new(side);
    let (options, workflow) = (&options, &workflow);
    run_sessions(
        shutdown,
        session_backoff(),
        |shutdown: Shutdown| async move {
            let mut side = side.lock().await;
            let mut session = Session::start(options, workflow.clone())?;
            let mut stop = std::pin::pin!(shutdown.requested());
            let result = session.run(&mut stop, &mut side).await;
            session.close().await;
            result
        },
    )
    .await;
    Ok(())
}
