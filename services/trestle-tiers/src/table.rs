//! [`TierTable`]: what each tier gets, configurable per tier and per field, validated.

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;
use crate::tier::{PerTier, Tier};

/// Micro-USD in one US dollar.
pub const MICRO_USD_PER_USD: i64 = 1_000_000;

/// Default monthly query allowances are this many queries per dollar of the tier's included AI
/// cost.
///
/// The seed's average company makes 12,000 AI queries a month (8 users × 50 a day) and is sold
/// the professional tier ($50 of AI a month): 240 queries per dollar. Scaling every tier by the
/// same ratio keeps the two limits consistent (a company reaches both at about the same time if
/// its queries cost what the average company's do), and leaves the cost limit as the one that
/// protects the margin: the query limit only stops a runaway loop of cheap queries.
pub const DEFAULT_QUERIES_PER_USD: u64 = 240;

/// What one tier gets. In configuration every field may be left out (it keeps the tier's
/// default); an unknown field is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSettings {
    /// Sustained AI requests per minute of one company (the rate limit; its burst is the rate
    /// limiter's `burst_fraction` of it). 0 allows nothing.
    pub requests_per_minute: u32,
    /// Deficit round-robin quantum: on its turn a backlogged company may start this many records
    /// before the next company's turn, so throughput under contention is proportional to it.
    /// At least 1.
    pub scheduler_weight: u32,
    /// Most records of one company in flight at once, so no company takes all the slots. At
    /// least 1; a cap above the scheduler's `max_in_flight` (all companies together) is never
    /// reached.
    pub max_in_flight: u32,
    /// The subscription's monthly price in micro-USD (the price book's tier price).
    pub monthly_price_micro_usd: i64,
    /// AI queries included per month (the monthly query limit). A number or `"unlimited"`.
    #[serde(with = "crate::unlimited")]
    pub included_queries_per_month: Option<u64>,
    /// AI cost included per month in micro-USD (the monthly cost limit). A number or
    /// `"unlimited"`.
    #[serde(with = "crate::unlimited")]
    pub included_cost_micro_usd_per_month: Option<i64>,
}

impl TierSettings {
    /// The seed's numbers for `tier` (see the crate docs' table).
    pub const fn default_for(tier: Tier) -> TierSettings {
        let (rpm, weight, in_flight, price_usd, ai_usd) = match tier {
            Tier::Starter => (10, 1, 2, 99, 20),
            Tier::Professional => (30, 3, 4, 199, 50),
            Tier::Premium => (60, 6, 8, 349, 80),
            Tier::Enterprise => (120, 12, 16, 999, 150),
        };
        TierSettings {
            requests_per_minute: rpm,
            scheduler_weight: weight,
            max_in_flight: in_flight,
            monthly_price_micro_usd: price_usd * MICRO_USD_PER_USD,
            included_queries_per_month: Some(ai_usd as u64 * DEFAULT_QUERIES_PER_USD),
            included_cost_micro_usd_per_month: Some(ai_usd * MICRO_USD_PER_USD),
        }
    }
}

/// The one tier table (engine config section `[tiers]`, one sub-table per tier). Defaults: the
/// crate docs' table.
///
/// ```toml
/// [tiers.enterprise]
/// requests_per_minute = 200          # the other fields keep enterprise's defaults
/// included_queries_per_month = "unlimited"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TierTable(pub PerTier<TierSettings>);

impl Default for TierTable {
    fn default() -> Self {
        TierTable(PerTier::from_fn(TierSettings::default_for))
    }
}

impl TierTable {
    /// The settings of `tier`.
    pub fn get(&self, tier: Tier) -> &TierSettings {
        self.0.get(tier)
    }

    /// The settings of `tier`, to change them.
    pub fn get_mut(&mut self, tier: Tier) -> &mut TierSettings {
        self.0.get_mut(tier)
    }

    /// Requests per minute by tier.
    pub fn requests_per_minute(&self) -> PerTier<u32> {
        self.0.map(|s| s.requests_per_minute)
    }

    /// Scheduler weights by tier.
    pub fn scheduler_weights(&self) -> PerTier<u32> {
        self.0.map(|s| s.scheduler_weight)
    }

    /// Per-company in-flight caps by tier.
    pub fn max_in_flight(&self) -> PerTier<u32> {
        self.0.map(|s| s.max_in_flight)
    }

    /// Checks what every service needs of the table: weights and caps at least 1, no negative
    /// money.
    pub fn validate(&self) -> Result<(), Error> {
        for tier in Tier::ALL {
            let s = self.get(tier);
            let invalid = |field, reason: &str| {
                Err(Error::InvalidSetting {
                    tier: tier.as_str(),
                    field,
                    reason: reason.to_owned(),
                })
            };
            if s.scheduler_weight == 0 {
                return invalid("scheduler_weight", "must be at least 1");
            }
            if s.max_in_flight == 0 {
                return invalid("max_in_flight", "must be at least 1");
            }
            if s.monthly_price_micro_usd < 0 {
                return invalid("monthly_price_micro_usd", "must not be negative");
            }
            if s.included_cost_micro_usd_per_month.is_some_and(|c| c < 0) {
                return invalid("included_cost_micro_usd_per_month", "must not be negative");
            }
        }
        Ok(())
    }
}

/// One tier as configured: every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Given {
    requests_per_minute: Option<u32>,
    scheduler_weight: Option<u32>,
    max_in_flight: Option<u32>,
    monthly_price_micro_usd: Option<i64>,
    #[serde(default, deserialize_with = "crate::unlimited::deserialize_given")]
    included_queries_per_month: Option<Option<u64>>,
    #[serde(default, deserialize_with = "crate::unlimited::deserialize_given")]
    included_cost_micro_usd_per_month: Option<Option<i64>>,
}

impl Given {
    fn over(self, d: TierSettings) -> TierSettings {
        TierSettings {
            requests_per_minute: self.requests_per_minute.unwrap_or(d.requests_per_minute),
            scheduler_weight: self.scheduler_weight.unwrap_or(d.scheduler_weight),
            max_in_flight: self.max_in_flight.unwrap_or(d.max_in_flight),
            monthly_price_micro_usd: self
                .monthly_price_micro_usd
                .unwrap_or(d.monthly_price_micro_usd),
            included_queries_per_month: self
                .included_queries_per_month
                .unwrap_or(d.included_queries_per_month),
            included_cost_micro_usd_per_month: self
                .included_cost_micro_usd_per_month
                .unwrap_or(d.included_cost_micro_usd_per_month),
        }
    }
}

/// Tiers and fields left out keep their defaults; unknown tiers or fields are errors.
impl<'de> Deserialize<'de> for TierTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct GivenTable {
            #[serde(default)]
            starter: Given,
            #[serde(default)]
            professional: Given,
            #[serde(default)]
            premium: Given,
            #[serde(default)]
            enterprise: Given,
        }
        let given = GivenTable::deserialize(deserializer)?;
        let d = TierSettings::default_for;
        Ok(TierTable(PerTier {
            starter: given.starter.over(d(Tier::Starter)),
            professional: given.professional.over(d(Tier::Professional)),
            premium: given.premium.over(d(Tier::Premium)),
            enterprise: given.enterprise.over(d(Tier::Enterprise)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rpm, weight, in flight, price in dollars, queries, AI cost in dollars.
    type Row = (u32, u32, u32, i64, Option<u64>, Option<i64>);

    #[test]
    fn defaults_are_the_seed_tier_table_at_240_queries_per_dollar() {
        let table = TierTable::default();
        let rows: Vec<Row> = Tier::ALL
            .iter()
            .map(|&t| {
                let s = table.get(t);
                (
                    s.requests_per_minute,
                    s.scheduler_weight,
                    s.max_in_flight,
                    s.monthly_price_micro_usd / MICRO_USD_PER_USD,
                    s.included_queries_per_month,
                    s.included_cost_micro_usd_per_month
                        .map(|c| c / MICRO_USD_PER_USD),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (10, 1, 2, 99, Some(4_800), Some(20)),
                (30, 3, 4, 199, Some(12_000), Some(50)),
                (60, 6, 8, 349, Some(19_200), Some(80)),
                (120, 12, 16, 999, Some(36_000), Some(150)),
            ]
        );
        table.validate().unwrap();
    }

    #[test]
    fn a_partial_table_keeps_the_defaults_of_what_it_leaves_out() {
        let table: TierTable = toml::from_str(
            "[enterprise]\nrequests_per_minute = 200\nincluded_queries_per_month = \"unlimited\"\n",
        )
        .unwrap();
        let enterprise = table.get(Tier::Enterprise);
        assert_eq!(enterprise.requests_per_minute, 200);
        assert_eq!(enterprise.included_queries_per_month, None);
        assert_eq!(enterprise.scheduler_weight, 12);
        assert_eq!(
            table.get(Tier::Starter),
            &TierSettings::default_for(Tier::Starter)
        );
    }

    #[test]
    fn a_typo_in_the_table_is_an_error() {
        assert!(toml::from_str::<TierTable>("[enterprise]\nrpm = 200\n").is_err());
        assert!(toml::from_str::<TierTable>("[business]\nrequests_per_minute = 1\n").is_err());
        assert!(
            toml::from_str::<TierTable>("[starter]\nincluded_queries_per_month = \"lots\"\n")
                .is_err()
        );
    }

    #[test]
    fn round_trips_through_its_serialized_form() {
        let mut table = TierTable::default();
        table
            .get_mut(Tier::Premium)
            .included_cost_micro_usd_per_month = None;
        let json = serde_json::to_string(&table).unwrap();
        assert_eq!(serde_json::from_str::<TierTable>(&json).unwrap(), table);
    }

    #[test]
    fn rejects_zero_weights_and_caps_and_negative_money() {
        for (field, change) in [
            (
                "scheduler_weight",
                (|s: &mut TierSettings| s.scheduler_weight = 0) as fn(&mut _),
            ),
            ("max_in_flight", |s| s.max_in_flight = 0),
            ("monthly_price_micro_usd", |s| {
                s.monthly_price_micro_usd = -1
            }),
            ("included_cost_micro_usd_per_month", |s| {
                s.included_cost_micro_usd_per_month = Some(-1)
            }),
        ] {
            let mut table = TierTable::default();
            change(table.get_mut(Tier::Premium));
            match table.validate() {
                Err(Error::InvalidSetting { tier, field: f, .. }) => {
                    assert_eq!((tier, f), ("premium", field))
                }
                other => panic!("{field}: expected InvalidSetting, got {other:?}"),
            }
        }
    }
}
