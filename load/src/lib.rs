//! The load generator: a seeded mix of construction companies of every tier sends AI requests
//! through the ingest API, then the usage projection is read back per company (as that
//! tenant, through row-level security) and compared with what was sent.

mod report;
mod scenario;
mod send;

pub use report::{print_report, read_usage, wait_projected, CompanyUsage};
pub use scenario::{Company, Scenario, Tier};
pub use send::{drive, Sent};
