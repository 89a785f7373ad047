//! Rebalance notifications from the consumer to the session loop.
//!
//! librdkafka calls these hooks inside the consumer's poll, which the session loop runs in
//! `recv()`; the loop takes the queued notifications right after `recv()` returns, before it
//! looks at the message, so a partition's assignment is always handled before its first record
//! and its revocation before the next commit.

use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::ClientContext;

/// A change of the partitions this consumer owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rebalanced {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// Consumer context queueing [`Rebalanced`] notifications.
#[derive(Clone, Default)]
pub(crate) struct RebalanceQueue(Arc<Mutex<Vec<Rebalanced>>>);

impl RebalanceQueue {
    /// Everything queued since the last call, oldest first.
    pub(crate) fn take(&self) -> Vec<Rebalanced> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, event: Rebalanced) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}

impl ClientContext for RebalanceQueue {}

impl ConsumerContext for RebalanceQueue {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let partitions = tpl.elements().iter().map(|e| e.partition()).collect();
            self.push(Rebalanced::Revoked(partitions));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let partitions = tpl.elements().iter().map(|e| e.partition()).collect();
            self.push(Rebalanced::Assigned(partitions));
        }
    }
}
