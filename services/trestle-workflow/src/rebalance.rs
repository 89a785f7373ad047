//! Rebalance notifications from the consumer to the session loop: trestle-kafka's hand-off,
//! naming partitions by number (a workflow consumes one topic).

/// A change of the partitions this consumer owns.
pub(crate) type Rebalanced = trestle_kafka::Rebalanced<i32>;

/// Consumer context queueing [`Rebalanced`] notifications.
pub(crate) type RebalanceQueue = trestle_kafka::RebalanceQueue<i32>;
