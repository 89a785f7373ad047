//! Read models: what the projectors wrote, read back for the operator CLI, the load tools and
//! the API. Each module reads the tables of one projection (`trestle-projector` writes them)
//! or of one workflow's state; nothing here consumes Kafka or writes.
//!
//! - [`routing`]: a company's tenant routing (`tenant_routing`, control database).
//! - [`pool`]: the cloud-project pool and its daily requests (`cloud_projects`, control).
//! - [`health`]: per-shard health over sliding windows (`shard_health_*`, control).
//! - [`usage`]: a company's usage totals per period (`company_ai_usage`, shard database).
//! - [`companies`]: a company's record in its shard (`companies`, shard database).
//! - [`ai_requests`]: a company's AI requests and answers, and waiting for one (`ai_requests`,
//!   shard database).
//! - [`documents`]: a job's documents and their sync state (`job_documents`, shard database;
//!   written by the notebook workflow, not a projector).

pub mod ai_requests;
pub mod companies;
pub mod documents;
mod error;
pub mod health;
pub mod pool;
pub mod routing;
pub mod usage;

pub use error::Error;
