//! The key a breaker is kept under: provider, cloud project and region.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which circuit a call belongs to: one breaker per (provider, cloud project, region).
///
/// A provider failing in one cloud project or region (a quota exhausted, a regional outage)
/// must not stop calls to the same provider from another project or region, so each
/// combination has its own breaker. The fields match the `provider`, `cloud_project_id` and
/// `region` fields of the `ProviderCircuitOpened` / `HalfOpened` / `Closed` events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerKey {
    /// Provider name, e.g. `"gemini"`; also selects the provider's [`crate::BreakerOptions`].
    pub provider: String,
    /// Cloud project the calls are made from.
    pub cloud_project: String,
    /// Region the calls are made in, e.g. `"eu"`.
    pub region: String,
}

impl BreakerKey {
    /// A key from its three parts.
    pub fn new(
        provider: impl Into<String>,
        cloud_project: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        BreakerKey {
            provider: provider.into(),
            cloud_project: cloud_project.into(),
            region: region.into(),
        }
    }
}

impl fmt::Display for BreakerKey {
    /// `provider/cloud_project/region`, for log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.provider, self.cloud_project, self.region
        )
    }
}
