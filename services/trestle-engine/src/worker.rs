//! The session loop: poll → fair scheduler → request tasks → one Kafka transaction per commit
//! carrying the finished records' events and each partition's commit point.
//!
//! One task owns the consumer, the scheduler and the producer. Polled records are offered to
//! the scheduler; what it dispatches runs as a tokio task (ladder, chain, breakers); a finished
//! record's events wait in memory until the next commit, which publishes them together with
//! every partition's commit point (watermark + finished-beyond metadata) in one transaction.
//! A failed commit is aborted and retried with the same events; a revoked partition's
//! unpublished events are dropped (its new owner redoes those records: provider calls are
//! at-least-once, outcomes exactly-once).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::Instant;
use trestle_breaker::{Breakers, State, Transition};
use trestle_events::{
    AiRequestSubmitted, Event, Meta, ProviderCircuitClosed, ProviderCircuitHalfOpened,
    ProviderCircuitOpened,
};
use trestle_kafka::{run_sessions, session_backoff, Shutdown};
use trestle_scheduler::{CommitPoint, Completed, Dispatch, Offered, Pending, Scheduler};
use uuid::Uuid;

use crate::cache::ResponseCache;
use crate::commit::{Batch, Committer, Output, TXN_TIMEOUT};
use crate::directory::{Directory, Tenant};
use crate::intake::{validate, InRecord};
use crate::provider::ProviderClient;
use crate::rebalance::{RebalanceQueue, Rebalanced};
use crate::serve::{serve, Limiters, Services};
use crate::{DispatchMode, EngineConfig, Error};

/// Consecutive failed commits after which the session restarts from the committed offsets.
const MAX_COMMIT_FAILURES: u32 = 5;

/// Runs the engine until `shutdown` resolves; transient failures restart the session with
/// backoff. Needs the multi-threaded tokio runtime (the blocking transaction calls run in
/// `block_in_place`).
pub async fn run(config: EngineConfig, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    config.validate().map_err(Error::Config)?;
    let directory = Directory::new(
        Tenant {
            tier: trestle_events::Tier::Starter,
            region: config.region,
            cloud_project: config.default_cloud_project.clone(),
        },
        config.price_book.clone(),
    );
    let _follow = directory
        .follow(
            &config.kafka,
            Duration::from_millis(config.directory_catch_up_ms),
        )
        .await?;
    let limiters = if config.ladder.enabled {
        let starting = |what| move |source| Error::RateLimit { what, source };
        let rate = config.rate_limit.clone().build().await;
        let rate = rate.map_err(starting("rate limiter"))?;
        let mut degraded = config.rate_limit.clone();
        degraded.key_prefix.push_str("degraded:");
        let degraded = degraded.build().await;
        let degraded = degraded.map_err(starting("degrade allowance"))?;
        Some(Limiters { rate, degraded })
    } else {
        None
    };
    let budgets = if config.cost_limits.enabled {
        let budgets = config.cost_limits.budget.clone().build().await;
        Some(budgets.map_err(Error::CostLimits)?)
    } else {
        None
    };
    let (transitions_tx, transitions) = unbounded_channel();
    let services = Arc::new(Services {
        client: ProviderClient::new(config.provider.clone()),
        directory: directory.clone(),
        chains: config.chains.clone(),
        breakers: Breakers::new(config.breakers.clone()).map_err(Error::Breakers)?,
        limiters,
        budgets,
        overrides: config.cost_limits.overrides.clone(),
        cache: ResponseCache::connect(config.cache.clone()).map_err(Error::Cache)?,
        ladder: config.ladder.clone(),
        transitions: transitions_tx,
    });
    // Sessions run one after another; each borrows the transitions for its lifetime.
    let transitions = &tokio::sync::Mutex::new(transitions);
    let (config, directory, services) = (&config, &directory, &services);
    run_sessions(
        shutdown,
        session_backoff(),
        |shutdown: Shutdown| async move {
            let mut transitions = transitions.lock().await;
            let mut session = Session::start(config, services.clone(), directory.clone())?;
            let mut stop = std::pin::pin!(shutdown.requested());
            let result = session.run(&mut stop, &mut transitions).await;
            session.close().await;
            result
        },
    )
    .await;
    Ok(())
}

/// What waits in the scheduler for a record.
enum Work {
    Request {
        submitted: Box<AiRequestSubmitted>,
        tenant: Tenant,
        polled: Instant,
    },
    Invalid {
        record: InRecord,
        reason: String,
    },
}

/// A finished request task.
struct Done {
    partition: i32,
    offset: i64,
    outputs: Vec<Output>,
}

/// One consumer plus one transactional producer; dropped and rebuilt after a fatal failure.
struct Session {
    config: EngineConfig,
    services: Arc<Services>,
    directory: Directory,
    consumer: StreamConsumer<RebalanceQueue>,
    rebalances: RebalanceQueue,
    committer: Committer,
    /// The commit in flight, if any (at most one).
    committing: Option<tokio::task::JoinHandle<(Batch, Result<(), Error>)>>,
    /// Bumped when a partition is revoked: a batch taken before must not give it outputs back.
    epochs: HashMap<i32, u64>,
    requests_topic: String,
    /// Shared with request tasks, which encode their events.
    kafka: Arc<trestle_kafka::KafkaOptions>,
    scheduler: Scheduler<Work>,
    tasks: FuturesUnordered<tokio::task::JoinHandle<Done>>,
    /// Finished records' outputs by partition, not yet committed.
    unpublished: BTreeMap<i32, Vec<Output>>,
    unpublished_count: usize,
    /// Breaker transitions not yet published.
    transitions: Vec<Event>,
    /// Encoded transitions of a failed commit, for the next one.
    retry_transitions: Vec<Output>,
    assigned: HashSet<i32>,
    paused: HashSet<i32>,
    committed: HashMap<i32, CommitPoint>,
    commit_failures: u32,
}

impl Session {
    fn start(
        config: &EngineConfig,
        services: Arc<Services>,
        directory: Directory,
    ) -> Result<Self, Error> {
        let kafka = &config.kafka;
        let requests_topic = kafka.topic("ai-requests");
        let mut consumer_config = kafka.consumer_config(&config.group_id);
        let instance = if config.instance_id.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            consumer_config.set("group.instance.id", &config.instance_id);
            config.instance_id.clone()
        };
        let rebalances = RebalanceQueue::default();
        let consumer: StreamConsumer<RebalanceQueue> = consumer_config
            .create_with_context(rebalances.clone())
            .map_err(|source| trestle_kafka::Error::Setup {
                what: "consumer",
                source,
            })?;
        consumer
            .subscribe(&[&requests_topic])
            .map_err(|source| trestle_kafka::Error::Consume {
                topic: requests_topic.clone(),
                source,
            })?;
        let txn_id = format!("{}-{}", config.group_id, instance);
        let producer: FutureProducer = kafka
            .transactional_producer_config(&txn_id)
            .create()
            .map_err(|source| trestle_kafka::Error::Setup {
                what: "transactional producer",
                source,
            })?;
        producer
            .init_transactions(TXN_TIMEOUT)
            .map_err(|source| Error::Transaction {
                step: "init",
                source,
            })?;
        let scheduler = config
            .scheduler_options()
            .build()
            .map_err(Error::Scheduler)?;
        Ok(Session {
            config: config.clone(),
            services,
            directory,
            consumer,
            rebalances,
            committer: Committer {
                producer,
                dead_letter_topic: kafka.topic("dead-letter"),
                group_id: config.group_id.clone(),
            },
            committing: None,
            epochs: HashMap::new(),
            requests_topic,
            kafka: Arc::new(kafka.clone()),
            scheduler,
            tasks: FuturesUnordered::new(),
            unpublished: BTreeMap::new(),
            unpublished_count: 0,
            transitions: Vec::new(),
            retry_transitions: Vec::new(),
            assigned: HashSet::new(),
            paused: HashSet::new(),
            committed: HashMap::new(),
            commit_failures: 0,
        })
    }

    async fn run(
        &mut self,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
        transitions: &mut UnboundedReceiver<Transition>,
    ) -> Result<(), Error> {
        let mut tick = tokio::time::interval(Duration::from_millis(self.config.commit_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.dispatch();
            tokio::select! {
                _ = &mut *shutdown => return self.drain().await,
                message = self.consumer.recv() => {
                    let record = detach(message, &self.requests_topic)?;
                    self.handle_rebalances()?;
                    self.offer(record);
                }
                Some(joined) = self.tasks.next(), if !self.tasks.is_empty() => {
                    self.finish(joined);
                    if self.unpublished_count >= self.config.commit_max_records {
                        self.start_commit()?;
                    }
                }
                joined = async { self.committing.as_mut().expect("guarded").await },
                    if self.committing.is_some() =>
                {
                    self.committing = None;
                    self.committed(joined)?;
                }
                Some(transition) = transitions.recv() => {
                    self.transitions.push(transition_event(&transition));
                }
                _ = tick.tick() => {
                    self.start_commit()?;
                    trestle_telemetry::scheduler_load(
                        self.scheduler.buffered_total(),
                        self.scheduler.in_flight(),
                    );
                }
            }
        }
    }

    /// Starts every record the scheduler allows now.
    fn dispatch(&mut self) {
        while let Some(dispatch) = self.scheduler.next() {
            let Dispatch {
                partition,
                offset,
                payload,
                tier,
                ..
            } = dispatch;
            let services = self.services.clone();
            let kafka = self.kafka.clone();
            let task = match payload {
                Work::Request {
                    submitted,
                    tenant,
                    polled,
                } => {
                    trestle_telemetry::queue_wait(tier.as_str(), polled.elapsed());
                    tokio::spawn(async move {
                        let events = serve(services, *submitted, tenant).await;
                        Done {
                            partition,
                            offset,
                            outputs: events.iter().map(|e| Output::encode(e, &kafka)).collect(),
                        }
                    })
                }
                Work::Invalid { record, reason } => tokio::spawn(async move {
                    Done {
                        partition,
                        offset,
                        outputs: vec![Output::DeadLetter { record, reason }],
                    }
                }),
            };
            self.tasks.push(task);
        }
    }

    /// Offers a polled record to the scheduler and pauses its partition when buffers fill.
    fn offer(&mut self, record: InRecord) {
        let partition = record.partition;
        let pending = match validate(&record, &self.services.chains) {
            Ok(submitted) => {
                let company = submitted.meta.company_id;
                let tenant = self.directory.get(&company);
                let ordering_key = submitted.ordering_key.clone();
                let (company, tier, ordering_key) = match self.config.dispatch {
                    DispatchMode::Fair => (company, scheduler_tier(tenant.tier), ordering_key),
                    DispatchMode::Fifo => (
                        Uuid::nil(),
                        trestle_scheduler::Tier::Enterprise,
                        ordering_key,
                    ),
                    DispatchMode::PartitionOrder => (
                        Uuid::nil(),
                        trestle_scheduler::Tier::Enterprise,
                        Some(format!("partition-{partition}")),
                    ),
                };
                Pending {
                    partition,
                    offset: record.offset,
                    company,
                    tier,
                    ordering_key,
                    payload: Work::Request {
                        submitted: Box::new(submitted),
                        tenant,
                        polled: Instant::now(),
                    },
                }
            }
            Err(reason) => Pending {
                partition,
                offset: record.offset,
                company: Uuid::nil(),
                tier: trestle_scheduler::Tier::Starter,
                ordering_key: None,
                payload: Work::Invalid { record, reason },
            },
        };
        match self.scheduler.offer(pending) {
            Offered::Queued => {}
            Offered::AlreadyDone | Offered::Duplicate => return,
        }
        if !self.paused.contains(&partition)
            && self.scheduler.should_pause(partition)
            && self.set_paused(partition, true)
        {
            trestle_telemetry::partition_paused();
        }
    }

    /// Takes a finished task's outputs for the next commit and resumes drained partitions.
    fn finish(&mut self, joined: Result<Done, tokio::task::JoinError>) {
        let done = match joined {
            Ok(done) => done,
            Err(error) => {
                // A panicking request task: its record stays unfinished (so uncommitted) and is
                // redone by the next session; the partition cannot move past it meanwhile.
                tracing::error!(message = "A request task panicked; its record will be redone after a restart.", %error);
                return;
            }
        };
        if self.scheduler.complete(done.partition, done.offset) == Completed::Finished {
            self.unpublished_count += done.outputs.len();
            self.unpublished
                .entry(done.partition)
                .or_default()
                .extend(done.outputs);
        }
        let paused: Vec<i32> = self.paused.iter().copied().collect();
        for partition in paused {
            if self.scheduler.should_resume(partition) {
                self.set_paused(partition, false);
            }
        }
    }

    /// Applies assignments (restoring each partition from its commit and metadata) and
    /// revocations (dropping the partition's queue and unpublished outputs).
    fn handle_rebalances(&mut self) -> Result<(), Error> {
        for event in self.rebalances.take() {
            match event {
                Rebalanced::Assigned(partitions) => self.restore(&partitions)?,
                Rebalanced::Revoked(partitions) => {
                    for p in partitions {
                        let in_flight = self.scheduler.revoke(p);
                        if let Some(dropped) = self.unpublished.remove(&p) {
                            self.unpublished_count -= dropped.len();
                        }
                        tracing::info!(
                            message =
                                "Partition revoked; its unfinished records go to the new owner.",
                            partition = p,
                            in_flight = in_flight.len()
                        );
                        self.assigned.remove(&p);
                        self.paused.remove(&p);
                        self.committed.remove(&p);
                        *self.epochs.entry(p).or_default() += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn restore(&mut self, partitions: &[i32]) -> Result<(), Error> {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(&self.requests_topic, p);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .map_err(|source| trestle_kafka::Error::Consume {
                topic: self.requests_topic.clone(),
                source,
            })?;
        for element in committed.elements() {
            let p = element.partition();
            self.assigned.insert(p);
            if let Offset::Offset(offset) = element.offset() {
                let metadata = element.metadata();
                if let Err(error) = self.scheduler.restore_from_commit(p, offset, metadata) {
                    tracing::warn!(message = "Unreadable commit metadata; finished records beyond the commit will be redone.", partition = p, offset, %error);
                }
                self.committed.insert(
                    p,
                    CommitPoint {
                        offset,
                        metadata: metadata.to_owned(),
                    },
                );
            }
        }
        tracing::info!(message = "Partitions assigned.", partitions = ?partitions);
        Ok(())
    }

    fn set_paused(&mut self, partition: i32, pause: bool) -> bool {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.requests_topic, partition);
        let result = if pause {
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        match result {
            Ok(()) => {
                if pause {
                    self.paused.insert(partition);
                } else {
                    self.paused.remove(&partition);
                }
                true
            }
            Err(error) => {
                tracing::warn!(message = "Pausing or resuming a partition failed.", partition, pause, %error);
                false
            }
        }
    }

    /// Starts a commit of every unpublished output and transition and each partition's new
    /// commit point, unless one is in flight (then the next tick or completion starts it).
    fn start_commit(&mut self) -> Result<(), Error> {
        if self.committing.is_some() {
            return Ok(());
        }
        // A revocation seen by a poll that lost its select! race must drop the partition's
        // outputs before they could be published under a commit point it no longer owns.
        self.handle_rebalances()?;
        let mut offsets = TopicPartitionList::new();
        let mut points = Vec::new();
        for &p in &self.assigned {
            let Some(point) = self.scheduler.commit_point(p) else {
                continue;
            };
            if self.committed.get(&p) == Some(&point) {
                continue;
            }
            offsets
                .add_partition_offset(&self.requests_topic, p, Offset::Offset(point.offset))
                .map_err(|source| Error::Transaction {
                    step: "offsets",
                    source,
                })?;
            if let Some(mut element) = offsets.find_partition(&self.requests_topic, p) {
                element.set_metadata(point.metadata.clone());
            }
            points.push((p, point));
        }
        let batch = Batch {
            outputs: std::mem::take(&mut self.unpublished),
            transitions: std::mem::take(&mut self.retry_transitions)
                .into_iter()
                .chain(
                    std::mem::take(&mut self.transitions)
                        .iter()
                        .map(|e| Output::encode(e, &self.kafka)),
                )
                .collect(),
            offsets,
            points,
            epochs: self
                .assigned
                .iter()
                .map(|p| (*p, self.epochs.get(p).copied().unwrap_or(0)))
                .collect(),
        };
        self.unpublished_count = 0;
        if batch.is_empty() {
            return Ok(());
        }
        let group = self.consumer.group_metadata().ok_or(Error::Transaction {
            step: "group metadata",
            source: rdkafka::error::KafkaError::Canceled,
        })?;
        self.committing = Some(self.committer.spawn(batch, group));
        Ok(())
    }

    /// Takes a finished commit: records its commit points, or aborts and gives the outputs of
    /// partitions still owned (in the same assignment) back for the next commit. Only repeated
    /// failures end the session.
    fn committed(
        &mut self,
        joined: Result<(Batch, Result<(), Error>), tokio::task::JoinError>,
    ) -> Result<(), Error> {
        let (batch, result) = joined.map_err(|_| Error::Transaction {
            step: "commit task",
            source: rdkafka::error::KafkaError::Canceled,
        })?;
        let current = |p: &i32, epoch: &u64| {
            self.assigned.contains(p) && self.epochs.get(p).copied().unwrap_or(0) == *epoch
        };
        match result {
            Ok(()) => {
                trestle_telemetry::transaction("committed");
                self.commit_failures = 0;
                for (p, point) in batch.points {
                    if batch.epochs.get(&p).is_some_and(|e| current(&p, e)) {
                        self.committed.insert(p, point);
                    }
                }
                Ok(())
            }
            Err(error) => {
                trestle_telemetry::transaction("aborted");
                self.committer.abort()?;
                self.commit_failures += 1;
                if self.commit_failures >= MAX_COMMIT_FAILURES {
                    return Err(error);
                }
                tracing::warn!(message = "Commit failed; aborted, will retry with the same outputs.", %error, failures = self.commit_failures);
                let mut kept: Vec<(i32, Vec<Output>)> = Vec::new();
                for (p, outputs) in batch.outputs {
                    if batch.epochs.get(&p).is_some_and(|e| current(&p, e)) {
                        kept.push((p, outputs));
                    }
                }
                for (p, mut outputs) in kept {
                    // Earlier outputs first, then what finished during the failed commit.
                    let later = self.unpublished.remove(&p).unwrap_or_default();
                    self.unpublished_count += outputs.len();
                    outputs.extend(later);
                    self.unpublished.insert(p, outputs);
                }
                self.retry_transitions.extend(batch.transitions);
                Ok(())
            }
        }
    }

    /// Graceful stop: no new records start; in-flight ones finish (up to the grace period) and
    /// are committed.
    async fn drain(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_millis(self.config.shutdown_grace_ms);
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.next()).await {
                Ok(Some(joined)) => self.finish(joined),
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        message = "Stopping with records still in flight; they will be redone.",
                        in_flight = self.tasks.len()
                    );
                    break;
                }
            }
        }
        // The commit in flight, then one more for what finished meanwhile (and, if that one
        // fails, one retry).
        for _ in 0..3 {
            if let Some(task) = self.committing.take() {
                let joined = task.await;
                self.committed(joined)?;
            }
            self.start_commit()?;
            if self.committing.is_none() {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn close(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(task) = self.committing.take() {
            // Let a commit in flight end (commit or fail) before the producer goes.
            let _ = task.await;
        }
        drop(self.committer);
        trestle_kafka::consumer::close(self.consumer).await;
    }
}

fn detach(
    message: Result<rdkafka::message::BorrowedMessage<'_>, rdkafka::error::KafkaError>,
    topic: &str,
) -> Result<InRecord, Error> {
    Ok(trestle_kafka::consumer::received(message, topic)?)
}

/// The scheduler's view of a tier; a tier this build does not know counts as a starter.
fn scheduler_tier(tier: trestle_events::Tier) -> trestle_scheduler::Tier {
    use trestle_events::Tier as T;
    match tier {
        T::Professional => trestle_scheduler::Tier::Professional,
        T::Premium => trestle_scheduler::Tier::Premium,
        T::Enterprise => trestle_scheduler::Tier::Enterprise,
        T::Starter | T::Unknown => trestle_scheduler::Tier::Starter,
    }
}

/// The `providers` event of a breaker transition: opened (from closed or a failed probe),
/// half-opened (open time over, probing) or closed.
fn transition_event(t: &Transition) -> Event {
    trestle_telemetry::breaker_transition(
        &t.key.provider,
        match t.to {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        },
    );
    let region = t
        .key
        .region
        .parse()
        .unwrap_or(trestle_events::Region::Unknown);
    let (provider, cloud_project_id) = (t.key.provider.clone(), t.key.cloud_project.clone());
    let window_calls = t.window_calls as i32;
    match t.to {
        State::HalfOpen => Event::ProviderCircuitHalfOpened(ProviderCircuitHalfOpened {
            meta: Meta::platform(),
            provider,
            cloud_project_id,
            region,
            failure_rate: t.failure_rate,
            window_calls,
        }),
        State::Closed => Event::ProviderCircuitClosed(ProviderCircuitClosed {
            meta: Meta::platform(),
            provider,
            cloud_project_id,
            region,
            failure_rate: t.failure_rate,
            window_calls,
        }),
        State::Open => Event::ProviderCircuitOpened(ProviderCircuitOpened {
            meta: Meta::platform(),
            provider,
            cloud_project_id,
            region,
            failure_rate: t.failure_rate,
            window_calls,
        }),
    }
}
