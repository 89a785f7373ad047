//! [`Tier`] and [`PerTier`]: the subscription tiers, and one value per tier.

use serde::{Deserialize, Serialize};

/// A company's subscription tier.
///
/// The same symbols as `trestle_events::Tier` without its `unknown`: `trestle-events` maps that
/// onto [`Tier::Starter`] (the least privileged) in its `From` conversion, the only place that
/// decides what an unknown tier gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The smallest plan.
    Starter,
    /// The plan of the seed's average company.
    Professional,
    /// More rate, more AI.
    Premium,
    /// Dedicated capacity.
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

/// One value per tier: the [`TierTable`](crate::TierTable)'s settings, the scheduler's weights,
/// caps and counts.
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

    /// `f` of every tier's value.
    pub fn map<W>(&self, mut f: impl FnMut(&V) -> W) -> PerTier<W> {
        PerTier {
            starter: f(&self.starter),
            professional: f(&self.professional),
            premium: f(&self.premium),
            enterprise: f(&self.enterprise),
        }
    }

    /// A value per tier from `f`.
    pub fn from_fn(mut f: impl FnMut(Tier) -> V) -> PerTier<V> {
        PerTier {
            starter: f(Tier::Starter),
            professional: f(Tier::Professional),
            premium: f(Tier::Premium),
            enterprise: f(Tier::Enterprise),
        }
    }
}
