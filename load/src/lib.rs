//! The load generator: a seeded mix of construction companies of every tier is registered and
//! sends AI requests through the ingest API; the engine's outcomes are read back from Kafka and
//! the usage projection per company (as that tenant, through row-level security), and both are
//! compared with what was sent: one outcome per accepted request, usage for every answer.

mod groups;
mod onboard;
mod outcomes;
mod report;
mod scenario;
mod send;
mod tenants;
mod tokens;

pub use groups::wait_for_groups;
pub use onboard::{print_placement, register_via_api, wait_provisioned, Placed};
pub use outcomes::{outcomes_end, read_outcomes, Outcomes};
pub use report::{print_report, read_usage, wait_projected, CompanyUsage};
pub use scenario::{Company, Scenario};
pub use send::{drive, Sent};
pub use tenants::register_companies;
pub use tokens::Tokens;
