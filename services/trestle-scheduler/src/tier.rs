//! [`Tier`] and [`PerTier`]: the subscription tiers the scheduler weighs and caps by.

use serde::{Deserialize, Serialize};

/// A company's subscription tier, as far as scheduling is concerned.
///
/// The same symbols as `trestle_events::Tier`; the engine maps that enum onto this one (its
/// `Unknown` onto [`Tier::Starter`], the least privileged). This crate keeps its own copy so it
/// stays free of the Avro code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Default weight 1, default in-flight cap 2.
    Starter,
    /// Default weight 3, default in-flight cap 4.
    Professional,
    /// Default weight 6, default in-flight cap 8.
    Premium,
    /// Default weight 12, default in-flight cap 16.
    Enterprise,
}

impl Tier {
    /// Every tier, cheapest first.
    pub const ALL: [Tier; 4] = [
        Tier::Starter,
        Tier::Professional,
        Tier::Premium,
        Tier::Enterprise,
    ];

    /// The symbol, as in the schemas and in configuration (`"starter"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Starter => "starter",
            Tier::Professional => "professional",
            Tier::Premium => "premium",
            Tier::Enterprise => "enterprise",
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value per tier: weights and caps in [`SchedulerOptions`](crate::SchedulerOptions),
/// counts in [`Stats`](crate::Stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerTier<V> {
    /// The value for [`Tier::Starter`].
    pub starter: V,
    /// The value for [`Tier::Professional`].
    pub professional: V,
    /// The value for [`Tier::Premium`].
    pub premium: V,
    /// The value for [`Tier::Enterprise`].
    pub enterprise: V,
}

impl<V> PerTier<V> {
    /// The value for `tier`.
    pub fn get(&self, tier: Tier) -> &V {
        match tier {
            Tier::Starter => &self.starter,
            Tier::Professional => &self.professional,
            Tier::Premium => &self.premium,
            Tier::Enterprise => &self.enterprise,
        }
    }

    /// The value for `tier`, to change it.
    pub fn get_mut(&mut self, tier: Tier) -> &mut V {
        match tier {
            Tier::Starter => &mut self.starter,
            Tier::Professional => &mut self.professional,
            Tier::Premium => &mut self.premium,
            Tier::Enterprise => &mut self.enterprise,
        }
    }
}
