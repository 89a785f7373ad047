//! trestle-kafka against the Java client's numbers and a real broker.

mod partitioning;
mod topics;
