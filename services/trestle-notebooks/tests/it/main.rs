//! Integration tests of the notebook workflow against the real stack (Kafka, PostgreSQL with
//! pgvector) and the provider simulator's notebook API, all in this process.

mod hot;
mod knowledge_base;
mod lifecycle;
mod sigkill;
mod support;
