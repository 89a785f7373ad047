//! The rebalance hand-off: a consumer context that queues assignments and revocations for the
//! loop that owns the consumer.
//!
//! librdkafka calls the hooks inside the consumer's poll, which the loop runs in `recv()`; the
//! loop takes the queued notifications right after `recv()` returns, before it looks at the
//! message, so a partition's assignment is always handled before its first record and its
//! revocation before the loop's next commit. Revocations are queued before librdkafka gives
//! the partitions up, assignments after it took them.

use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

/// How a queue names a partition: `(topic, partition)` for a consumer of several topics, or
/// just the partition number for a consumer of one topic.
pub trait PartitionId: Send + Sync + 'static {
    fn from_parts(topic: &str, partition: i32) -> Self;
}

impl PartitionId for (String, i32) {
    fn from_parts(topic: &str, partition: i32) -> Self {
        (topic.to_owned(), partition)
    }
}

impl PartitionId for i32 {
    fn from_parts(_topic: &str, partition: i32) -> Self {
        partition
    }
}

/// A change of the partitions this consumer owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalanced<P = (String, i32)> {
    Assigned(Vec<P>),
    Revoked(Vec<P>),
}

/// Consumer context queueing [`Rebalanced`] notifications; cheap to clone (the clones share
/// the queue), so the loop keeps one and gives one to the consumer.
pub struct RebalanceQueue<P = (String, i32)>(Arc<Mutex<Vec<Rebalanced<P>>>>);

impl<P> Default for RebalanceQueue<P> {
    fn default() -> Self {
        RebalanceQueue(Arc::default())
    }
}

impl<P> Clone for RebalanceQueue<P> {
    fn clone(&self) -> Self {
        RebalanceQueue(self.0.clone())
    }
}

impl<P: PartitionId> RebalanceQueue<P> {
    /// Everything queued since the last call, oldest first.
    pub fn take(&self) -> Vec<Rebalanced<P>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, event: fn(Vec<P>) -> Rebalanced<P>, tpl: &TopicPartitionList) {
        let partitions = tpl
            .elements()
            .iter()
            .map(|e| P::from_parts(e.topic(), e.partition()))
            .collect();
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        queue.push(event(partitions));
    }
}

impl<P: PartitionId> ClientContext for RebalanceQueue<P> {}

impl<P: PartitionId> ConsumerContext for RebalanceQueue<P> {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.push(Rebalanced::Revoked, tpl);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.push(Rebalanced::Assigned, tpl);
        }
    }
}
