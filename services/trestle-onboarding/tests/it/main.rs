//! Integration tests of onboarding against the real Kafka and PostgreSQL of the local stack.

mod agreement;
mod placement;
mod sigkill;
mod support;
