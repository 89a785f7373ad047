//! One session: a consumer and a transactional producer, the fair scheduler, the steps in
//! flight and the partitions owned; dropped and rebuilt after a fatal failure.

mod cycle;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use trestle_events::Event;
use trestle_kafka::OwnedRecord;
use trestle_scheduler::{CommitPoint, Completed, Dispatch, Offered, Pending, Scheduler};
use uuid::Uuid;

use self::cycle::CommitCycle;
use crate::commit::{Committer, Output, TXN_TIMEOUT};
use crate::partitions::Partitions;
use crate::rebalance::{RebalanceQueue, Rebalanced};
use crate::running::{Ended, Running};
use crate::{Admitted, DispatchMode, Error, RuntimeOptions, Workflow};

/// What waits in the scheduler for a record.
enum Work<T> {
    Admitted { item: Arc<T>, polled: Instant },
    Invalid { record: OwnedRecord, reason: String },
}

/// One consumer plus one transactional producer; dropped and rebuilt after a fatal failure.
pub(crate) struct Session<W: Workflow> {
    options: RuntimeOptions,
    workflow: Arc<W>,
    consumer: StreamConsumer<RebalanceQueue>,
    rebalances: RebalanceQueue,
    /// The physical topic consumed.
    topic: String,
    /// Shared with the steps, which encode their events.
    kafka: Arc<trestle_kafka::KafkaOptions>,
    scheduler: Scheduler<Work<W::Item>>,
    tasks: FuturesUnordered<Running<W>>,
    partitions: Partitions,
    /// Events of no record (breaker transitions…) not yet in a commit.
    side: Vec<Event>,
    committer: Committer,
    commit: CommitCycle,
}

impl<W: Workflow> Session<W> {
    pub(crate) fn start(options: &RuntimeOptions, workflow: Arc<W>) -> Result<Self, Error> {
        let kafka = &options.kafka;
        let topic = kafka.topic(options.topic);
        let mut consumer_config = kafka.consumer_config(&options.group_id);
        let instance = if options.instance_id.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            consumer_config.set("group.instance.id", &options.instance_id);
            options.instance_id.clone()
        };
        let rebalances = RebalanceQueue::default();
        let consumer: StreamConsumer<RebalanceQueue> = consumer_config
            .create_with_context(rebalances.clone())
            .map_err(|source| trestle_kafka::Error::Setup {
                what: "consumer",
                source,
            })?;
        consumer
            .subscribe(&[&topic])
            .map_err(|source| trestle_kafka::Error::Consume {
                topic: topic.clone(),
                source,
            })?;
        let txn_id = format!("{}-{}", options.group_id, instance);
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
        let scheduler = options
            .scheduler_options()
            .build()
            .map_err(Error::Scheduler)?;
        Ok(Session {
            options: options.clone(),
            workflow,
            consumer,
            rebalances,
            topic,
            kafka: Arc::new(kafka.clone()),
            scheduler,
            tasks: FuturesUnordered::new(),
            partitions: Partitions::default(),
            side: Vec::new(),
            committer: Committer {
                producer,
                dead_letter_topic: kafka.topic("dead-letter"),
                group_id: options.group_id.clone(),
                name: options.name,
            },
            commit: CommitCycle::Idle,
        })
    }

    pub(crate) async fn run(
        &mut self,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
        side: &mut UnboundedReceiver<Event>,
    ) -> Result<(), Error> {
        let interval = Duration::from_millis(self.options.commit_interval_ms);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.dispatch();
            tokio::select! {
                _ = &mut *shutdown => return self.drain().await,
                message = self.consumer.recv() => {
                    let record = trestle_kafka::consumer::received(message, &self.topic)?;
                    self.handle_rebalances()?;
                    self.offer(record);
                }
                Some(ended) = self.tasks.next(), if !self.tasks.is_empty() => {
                    self.finish(ended);
                    if self.partitions.unpublished_count() >= self.options.commit_max_records {
                        self.start_commit()?;
                    }
                }
                joined = async { self.commit.in_flight().expect("guarded").await },
                    if self.commit.is_in_flight() =>
                {
                    self.committed(joined)?;
                }
                Some(event) = side.recv() => self.side.push(event),
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

    /// Starts every record the scheduler allows now; an invalid record ends at once (as a dead
    /// letter).
    fn dispatch(&mut self) {
        while let Some(dispatch) = self.scheduler.next() {
            let Dispatch {
                partition,
                offset,
                payload,
                tier,
                ..
            } = dispatch;
            match payload {
                Work::Admitted { item, polled } => {
                    trestle_telemetry::queue_wait(tier.as_str(), polled.elapsed());
                    self.tasks.push(Running::spawn(
                        (partition, offset),
                        item,
                        self.workflow.clone(),
                        self.kafka.clone(),
                    ));
                }
                Work::Invalid { record, reason } => {
                    let outputs = vec![Output::DeadLetter { record, reason }];
                    self.finished(partition, offset, outputs);
                }
            }
        }
    }

    /// Offers a polled record to the scheduler and pauses its partition when buffers fill.
    fn offer(&mut self, record: OwnedRecord) {
        let (partition, offset) = (record.partition, record.offset);
        let pending = match self.workflow.admit(&record) {
            Ok(admitted) => self.pending(partition, offset, admitted),
            Err(reason) => Pending {
                partition,
                offset,
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
        let paused = self.partitions.get(partition).is_some_and(|s| s.paused);
        if !paused && self.scheduler.should_pause(partition) && self.set_paused(partition, true) {
            trestle_telemetry::partition_paused();
        }
    }

    /// An admitted record as the scheduler takes it; the benchmark baselines put every record
    /// under one pseudo-company.
    fn pending(
        &self,
        partition: i32,
        offset: i64,
        admitted: Admitted<W::Item>,
    ) -> Pending<Work<W::Item>> {
        let Admitted {
            company,
            tier,
            ordering_key,
            item,
        } = admitted;
        let (company, tier, ordering_key) = match self.options.dispatch {
            DispatchMode::Fair => (company, tier, ordering_key),
            #[cfg(feature = "bench")]
            DispatchMode::Fifo => (
                Uuid::nil(),
                trestle_scheduler::Tier::Enterprise,
                ordering_key,
            ),
            #[cfg(feature = "bench")]
            DispatchMode::PartitionOrder => (
                Uuid::nil(),
                trestle_scheduler::Tier::Enterprise,
                Some(format!("partition-{partition}")),
            ),
        };
        Pending {
            partition,
            offset,
            company,
            tier,
            ordering_key,
            payload: Work::Admitted {
                item: Arc::new(item),
                polled: Instant::now(),
            },
        }
    }

    /// Takes an ended step's outputs (the workflow's failure events if it panicked).
    fn finish(&mut self, ended: Ended<W>) {
        let (partition, offset) = (ended.partition, ended.offset);
        let outputs = ended.into_outputs(&self.workflow, &self.kafka);
        self.finished(partition, offset, outputs);
    }

    /// A record is done: its outputs wait for the next commit (unless its partition was
    /// revoked meanwhile), and partitions drained enough resume.
    fn finished(&mut self, partition: i32, offset: i64, outputs: Vec<Output>) {
        if self.scheduler.complete(partition, offset) == Completed::Finished {
            if let Some(state) = self.partitions.get_mut(partition) {
                state.unpublished.extend(outputs);
            }
        }
        for partition in self.partitions.paused() {
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
                        self.partitions.revoke(p);
                        tracing::info!(
                            message =
                                "Partition revoked; its unfinished records go to the new owner.",
                            partition = p,
                            in_flight = in_flight.len()
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn restore(&mut self, partitions: &[i32]) -> Result<(), Error> {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(&self.topic, p);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .map_err(|source| trestle_kafka::Error::Consume {
                topic: self.topic.clone(),
                source,
            })?;
        for element in committed.elements() {
            let p = element.partition();
            let mut point = None;
            if let Offset::Offset(offset) = element.offset() {
                let metadata = element.metadata();
                if let Err(error) = self.scheduler.restore_from_commit(p, offset, metadata) {
                    tracing::warn!(message = "Unreadable commit metadata; finished records beyond the commit will be redone.", partition = p, offset, %error);
                }
                point = Some(CommitPoint {
                    offset,
                    metadata: metadata.to_owned(),
                });
            }
            self.partitions.assign(p, point);
        }
        tracing::info!(message = "Partitions assigned.", partitions = ?partitions);
        Ok(())
    }

    fn set_paused(&mut self, partition: i32, pause: bool) -> bool {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        let result = if pause {
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        match result {
            Ok(()) => {
                if let Some(state) = self.partitions.get_mut(partition) {
                    state.paused = pause;
                }
                true
            }
            Err(error) => {
                tracing::warn!(message = "Pausing or resuming a partition failed.", partition, pause, %error);
                false
            }
        }
    }

    /// Graceful stop: no new records start; in-flight ones finish (up to the grace period) and
    /// are committed.
    async fn drain(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_millis(self.options.shutdown_grace_ms);
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.next()).await {
                Ok(Some(ended)) => self.finish(ended),
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
            if let Some(task) = self.commit.in_flight() {
                let joined = task.await;
                self.committed(joined)?;
            }
            self.start_commit()?;
            if !self.commit.is_in_flight() {
                return Ok(());
            }
        }
        Ok(())
    }

    pub(crate) async fn close(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(task) = self.commit.in_flight() {
            // Let a commit in flight end (commit or fail) before the producer goes.
            let _ = task.await;
        }
        drop(self.committer);
        trestle_kafka::consumer::close(self.consumer).await;
    }
}
