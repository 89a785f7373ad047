//! The usage projector against real Kafka and Postgres.

mod ai_requests;
mod billing;
mod companies;
mod dead_letters;
mod exactly_once;
mod health;
mod isolation;
mod moves;
mod pool;
mod rebuild;
mod routing;
mod support;
