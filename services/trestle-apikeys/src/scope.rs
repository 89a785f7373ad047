//! The scopes a credential (JWT `scope` claim, API key) grants, and their names.

/// One scope. Company scopes let a credential act for its company; `admin` is the platform
/// operators' (company registration, operator routes) and never a company's API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Submit AI requests.
    AiWrite,
    /// Read AI requests and their outcomes.
    AiRead,
    /// Create, complete, reopen jobs, ask for a job's notebook, add documents.
    JobsWrite,
    /// Read a job's documents and their sync state.
    JobsRead,
    /// Read usage.
    UsageRead,
    /// Read billing statements.
    BillingRead,
    /// Platform operators.
    Admin,
}

/// A scope name that is none of [`Scope::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}: the scopes are ai:write, ai:read, jobs:write, jobs:read, usage:read, billing:read and admin")]
pub struct UnknownScope(pub String);

impl Scope {
    pub const ALL: &'static [Scope] = &[
        Scope::AiWrite,
        Scope::AiRead,
        Scope::JobsWrite,
        Scope::JobsRead,
        Scope::UsageRead,
        Scope::BillingRead,
        Scope::Admin,
    ];

    /// The name in a JWT's `scope` claim and on the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AiWrite => "ai:write",
            Scope::AiRead => "ai:read",
            Scope::JobsWrite => "jobs:write",
            Scope::JobsRead => "jobs:read",
            Scope::UsageRead => "usage:read",
            Scope::BillingRead => "billing:read",
            Scope::Admin => "admin",
        }
    }

    /// Whether this is a platform scope rather than a company's.
    pub fn is_platform(self) -> bool {
        self == Scope::Admin
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }
}
