//! The logical Kafka topics events are published to (the physical names are in `topics.toml`).

use serde::{Deserialize, Serialize};

/// A logical topic; each event type belongs to exactly one, named by its directory in `schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    /// Company registration and provisioning.
    Tenants,
    /// AI requests as submitted.
    AiRequests,
    /// The one outcome of each AI request.
    AiOutcomes,
    /// Billable usage increments.
    Usage,
    /// A job's lifecycle and its documents' sync into notebooks, in order per company.
    Jobs,
    /// Notebook lifecycle (hot, warm, cold).
    Notebooks,
    /// Provider circuit breakers (platform-scoped).
    Providers,
    /// Monitoring alerts.
    Alerts,
    /// Versions of the price book (platform-scoped).
    PriceBooks,
    /// Operator settings of the pool's cloud projects (platform-scoped, keyed by project).
    CloudProjects,
    /// Durable timers scheduled and cancelled by workflows.
    Timers,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 11] = [
        Topic::Tenants,
        Topic::AiRequests,
        Topic::AiOutcomes,
        Topic::Usage,
        Topic::Jobs,
        Topic::Notebooks,
        Topic::Providers,
        Topic::Alerts,
        Topic::PriceBooks,
        Topic::CloudProjects,
        Topic::Timers,
    ];

    /// The logical name, e.g. `"ai-requests"`; also the directory under `schemas/`.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Tenants => "tenants",
            Topic::AiRequests => "ai-requests",
            Topic::AiOutcomes => "ai-outcomes",
            Topic::Usage => "usage",
            Topic::Jobs => "jobs",
            Topic::Notebooks => "notebooks",
            Topic::Providers => "providers",
            Topic::Alerts => "alerts",
            Topic::PriceBooks => "price-books",
            Topic::CloudProjects => "cloud-projects",
            Topic::Timers => "timers",
        }
    }

    /// The topic with this logical name.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
