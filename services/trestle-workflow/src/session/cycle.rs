//! The commit cycle: at most one commit in flight; a failed one is aborted and its outputs
//! retried in the next; only repeated failures end the session.

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::{JoinError, JoinHandle};
use trestle_scheduler::CommitPoint;

use super::Session;
use crate::commit::{Batch, Output};
use crate::{Error, Workflow};

/// Consecutive failed commits after which the session restarts from the committed offsets.
const MAX_COMMIT_FAILURES: u32 = 5;

/// A commit's task: hands the batch back with the result.
type CommitTask = JoinHandle<(Batch, Result<(), Error>)>;

/// Where the session's commits stand.
pub(crate) enum CommitCycle {
    /// No commit in flight; the last one went through (or there was none).
    Idle,
    /// A commit in flight, after `failures` failed ones in a row.
    Committing { task: CommitTask, failures: u32 },
    /// The last `failures` commits failed; the failed one's side events wait for the next (its
    /// records' outputs went back to their partitions).
    Failed { failures: u32, side: Vec<Output> },
}

impl CommitCycle {
    pub(crate) fn is_in_flight(&self) -> bool {
        matches!(self, CommitCycle::Committing { .. })
    }

    /// The commit in flight.
    pub(crate) fn in_flight(&mut self) -> Option<&mut CommitTask> {
        match self {
            CommitCycle::Committing { task, .. } => Some(task),
            _ => None,
        }
    }

    /// Failures so far and side events to retry; the cycle is left idle.
    fn take(&mut self) -> (u32, Vec<Output>) {
        match std::mem::replace(self, CommitCycle::Idle) {
            CommitCycle::Idle => (0, Vec::new()),
            CommitCycle::Committing { failures, .. } => (failures, Vec::new()),
            CommitCycle::Failed { failures, side } => (failures, side),
        }
    }

    /// Not committing, after `failures` failed commits in a row.
    fn after(failures: u32, side: Vec<Output>) -> CommitCycle {
        if failures == 0 {
            CommitCycle::Idle
        } else {
            CommitCycle::Failed { failures, side }
        }
    }
}

impl<W: Workflow> Session<W> {
    /// Starts a commit of every unpublished output and side event and each partition's new
    /// commit point, unless one is in flight (then the next tick or completion starts it).
    pub(crate) fn start_commit(&mut self) -> Result<(), Error> {
        if self.commit.is_in_flight() {
            return Ok(());
        }
        // A revocation seen by a poll that lost its select! race must drop the partition's
        // outputs before they could be published under a commit point it no longer owns.
        self.handle_rebalances()?;
        let (offsets, points) = self.commit_points()?;
        let (failures, retried) = self.commit.take();
        let kafka = &self.kafka;
        let fresh = std::mem::take(&mut self.side);
        let batch = Batch {
            outputs: self.partitions.take_unpublished(),
            side: (retried.into_iter())
                .chain(fresh.iter().map(|e| Output::encode(e, kafka)))
                .collect(),
            offsets,
            points,
            epochs: self.partitions.epochs(),
        };
        if batch.is_empty() {
            self.commit = CommitCycle::after(failures, Vec::new());
            return Ok(());
        }
        let group = self.consumer.group_metadata().ok_or(Error::Transaction {
            step: "group metadata",
            source: rdkafka::error::KafkaError::Canceled,
        })?;
        let task = self.committer.spawn(batch, group);
        self.commit = CommitCycle::Committing { task, failures };
        Ok(())
    }

    /// Each owned partition's commit point where it moved since the last commit.
    fn commit_points(&self) -> Result<(TopicPartitionList, Vec<(i32, CommitPoint)>), Error> {
        let mut offsets = TopicPartitionList::new();
        let mut points = Vec::new();
        for (p, state) in self.partitions.iter() {
            let Some(point) = self.scheduler.commit_point(p) else {
                continue;
            };
            if state.committed.as_ref() == Some(&point) {
                continue;
            }
            offsets
                .add_partition_offset(&self.topic, p, Offset::Offset(point.offset))
                .map_err(|source| Error::Transaction {
                    step: "offsets",
                    source,
                })?;
            if let Some(mut element) = offsets.find_partition(&self.topic, p) {
                element.set_metadata(point.metadata.clone());
            }
            points.push((p, point));
        }
        Ok((offsets, points))
    }

    /// Takes a finished commit: records its commit points, or aborts and gives the outputs of
    /// partitions still owned (in the same assignment) back for the next commit. Only repeated
    /// failures end the session.
    pub(crate) fn committed(
        &mut self,
        joined: Result<(Batch, Result<(), Error>), JoinError>,
    ) -> Result<(), Error> {
        let (failures, _) = self.commit.take();
        let (batch, result) = joined.map_err(|_| Error::Transaction {
            step: "commit task",
            source: rdkafka::error::KafkaError::Canceled,
        })?;
        match result {
            Ok(()) => {
                trestle_telemetry::transaction("committed");
                self.partitions.committed(batch.points, &batch.epochs);
                Ok(())
            }
            Err(error) => {
                trestle_telemetry::transaction("aborted");
                self.committer.abort()?;
                let failures = failures + 1;
                if failures >= MAX_COMMIT_FAILURES {
                    return Err(error);
                }
                tracing::warn!(message = "Commit failed; aborted, will retry with the same outputs.", %error, failures);
                self.partitions.give_back(batch.outputs, &batch.epochs);
                self.commit = CommitCycle::after(failures, batch.side);
                Ok(())
            }
        }
    }
}
