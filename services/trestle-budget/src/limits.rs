//! What a company may use in a month: [`MonthlyLimits`], each tier's (from the tier table),
//! per-company [`Overrides`], and the [`Month`] a budget belongs to.

use serde::{Deserialize, Serialize};
use trestle_tiers::{PerTier, Tier, TierSettings, TierTable};

use crate::error::Error;

/// One month's limits of one company. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthlyLimits {
    /// AI queries (provider calls) per month. In configuration a number or `"unlimited"`.
    #[serde(with = "trestle_tiers::unlimited")]
    pub queries: Option<u64>,
    /// AI cost per month in micro-USD (1 USD = 1,000,000). In configuration a number or
    /// `"unlimited"`.
    #[serde(with = "trestle_tiers::unlimited")]
    pub cost_micro_usd: Option<i64>,
    /// The tier these limits came from, for the refusal message; `None` for limits built by
    /// hand. Not configuration.
    #[serde(skip)]
    pub tier: Option<Tier>,
}

impl MonthlyLimits {
    /// Limits built by hand (no tier named in messages).
    pub const fn new(queries: Option<u64>, cost_micro_usd: Option<i64>) -> MonthlyLimits {
        MonthlyLimits {
            queries,
            cost_micro_usd,
            tier: None,
        }
    }

    /// No limit at all.
    pub const UNLIMITED: MonthlyLimits = MonthlyLimits::new(None, None);
}

impl MonthlyLimits {
    /// The monthly allowance `settings` include for `tier`.
    pub fn included(tier: Tier, settings: &TierSettings) -> MonthlyLimits {
        MonthlyLimits {
            queries: settings.included_queries_per_month,
            cost_micro_usd: settings.included_cost_micro_usd_per_month,
            tier: Some(tier),
        }
    }
}

/// The seed's monthly allowance of `tier` (`trestle_tiers::TierSettings::default_for`): AI
/// cost $20 / $50 / $80 / $150 and 240 queries per dollar of it, 4,800 / 12,000 / 19,200 /
/// 36,000.
pub fn tier_default(tier: Tier) -> MonthlyLimits {
    MonthlyLimits::included(tier, &TierSettings::default_for(tier))
}

/// Every tier's monthly limits, as `table` includes them.
pub(crate) fn tier_limits(table: &TierTable) -> PerTier<MonthlyLimits> {
    PerTier::from_fn(|tier| MonthlyLimits::included(tier, table.get(tier)))
}

/// The tier's limits with `overrides` applied, field by field.
pub(crate) fn limits_for(
    tiers: &PerTier<MonthlyLimits>,
    tier: Tier,
    overrides: &Overrides,
) -> MonthlyLimits {
    let defaults = tiers.get(tier);
    MonthlyLimits {
        queries: overrides.queries.unwrap_or(defaults.queries),
        cost_micro_usd: overrides.cost_micro_usd.unwrap_or(defaults.cost_micro_usd),
        tier: Some(tier),
    }
}

/// A company's own limits, where its contract differs from its tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `None`: the tier's; `Some(None)`: unlimited; `Some(Some(n))`: `n` queries a month.
    pub queries: Option<Option<u64>>,
    /// `None`: the tier's; `Some(None)`: unlimited; `Some(Some(n))`: `n` micro-USD a month.
    pub cost_micro_usd: Option<Option<i64>>,
}

/// A calendar month (UTC), the period a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// `month` is 1 to 12; `year` 0 to 9999.
    pub fn new(year: i32, month: u32) -> Result<Month, Error> {
        if !(1..=12).contains(&month) || !(0..=9999).contains(&year) {
            return Err(Error::InvalidMonth { year, month });
        }
        Ok(Month { year, month })
    }

    /// The month of `date`.
    pub fn of(date: chrono::NaiveDate) -> Month {
        use chrono::Datelike;
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The current month in UTC, by this machine's clock.
    pub fn current_utc() -> Month {
        Month::of(chrono::Utc::now().date_naive())
    }

    pub fn year(self) -> i32 {
        self.year
    }

    /// 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }
}

impl From<chrono::NaiveDate> for Month {
    fn from(date: chrono::NaiveDate) -> Month {
        Month::of(date)
    }
}

/// `YYYY-MM`. NEVER CHANGE: part of the Redis key of every budget.
impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_defaults_follow_the_seed_cost_table_at_240_queries_per_dollar() {
        let defaults = tier_limits(&TierTable::default());
        let none = Overrides::default();
        for (tier, queries, usd) in [
            (Tier::Starter, 4_800, 20),
            (Tier::Professional, 12_000, 50),
            (Tier::Premium, 19_200, 80),
            (Tier::Enterprise, 36_000, 150),
        ] {
            let expected = MonthlyLimits {
                queries: Some(queries),
                cost_micro_usd: Some(usd * 1_000_000),
                tier: Some(tier),
            };
            assert_eq!(limits_for(&defaults, tier, &none), expected);
            assert_eq!(tier_default(tier), expected);
        }
    }

    #[test]
    fn the_tier_table_sets_the_limits() {
        let mut table = TierTable::default();
        table.get_mut(Tier::Starter).included_queries_per_month = None;
        table
            .get_mut(Tier::Starter)
            .included_cost_micro_usd_per_month = Some(7);
        let limits = limits_for(&tier_limits(&table), Tier::Starter, &Overrides::default());
        assert_eq!((limits.queries, limits.cost_micro_usd), (None, Some(7)));
    }

    #[test]
    fn overrides_beat_tier_defaults_field_by_field() {
        let defaults = tier_limits(&TierTable::default());
        let overrides = Overrides {
            queries: Some(None),
            cost_micro_usd: Some(Some(7)),
        };
        let limits = limits_for(&defaults, Tier::Premium, &overrides);
        assert_eq!((limits.queries, limits.cost_micro_usd), (None, Some(7)));
        let only_queries = Overrides {
            queries: Some(Some(3)),
            ..Overrides::default()
        };
        let limits = limits_for(&defaults, Tier::Premium, &only_queries);
        assert_eq!(
            (limits.queries, limits.cost_micro_usd),
            (Some(3), Some(80_000_000))
        );
    }

    #[test]
    fn months_format_as_year_dash_month_and_reject_nonsense() {
        assert_eq!(Month::new(2025, 3).unwrap().to_string(), "2025-03");
        let date = chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
        assert_eq!(Month::from(date), Month::new(2024, 12).unwrap());
        assert!(Month::new(2025, 0).is_err());
        assert!(Month::new(2025, 13).is_err());
        assert!(Month::new(10_000, 1).is_err());
    }

    #[test]
    fn limits_read_numbers_and_unlimited_and_require_both_fields() {
        let limits: MonthlyLimits =
            serde_json::from_str(r#"{"queries": "unlimited", "cost_micro_usd": 5}"#).unwrap();
        assert_eq!(limits, MonthlyLimits::new(None, Some(5)));
        assert_eq!(
            serde_json::to_string(&limits).unwrap(),
            r#"{"queries":"unlimited","cost_micro_usd":5}"#
        );
        assert!(serde_json::from_str::<MonthlyLimits>(r#"{"queries": 5}"#).is_err());
        assert!(serde_json::from_str::<MonthlyLimits>(
            r#"{"queries": "lots", "cost_micro_usd": 5}"#
        )
        .is_err());
    }
}
