//! The timer service against the real Kafka and PostgreSQL of the local stack.

mod fire;
mod sigkill;
mod support;
