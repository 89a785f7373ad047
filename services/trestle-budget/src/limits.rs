//! What a company may use in a month: [`MonthlyLimits`], the tier defaults, per-company
//! [`Overrides`], and the [`Month`] a budget belongs to.

use serde::{Deserialize, Serialize};
use trestle_events::Tier;

use crate::error::Error;

/// One month's limits of one company. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthlyLimits {
    /// AI queries (provider calls) per month. In configuration a number or `"unlimited"`.
    #[serde(with = "unlimited")]
    pub queries: Option<u64>,
    /// AI cost per month in micro-USD (1 USD = 1,000,000). In configuration a number or
    /// `"unlimited"`.
    #[serde(with = "unlimited")]
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

/// Micro-USD in one US dollar.
pub const MICRO_USD_PER_USD: i64 = 1_000_000;

/// Default monthly query limits are this many queries per dollar of the tier's AI cost limit.
///
/// The seed's average company makes 12,000 AI queries a month (8 users × 50 a day) and is sold
/// the professional tier ($50 of AI a month): 240 queries per dollar. Scaling every tier by the
/// same ratio keeps the two limits consistent (a company reaches both at about the same time if
/// its queries cost what the average company's do), and leaves the cost limit as the one that
/// protects the margin: the query limit only stops a runaway loop of cheap queries.
pub const DEFAULT_QUERIES_PER_USD: u64 = 240;

/// The tier's default limits:
///
/// | tier | AI cost / month (seed's tier table) | queries / month (240 per dollar) |
/// |---|---|---|
/// | starter | $20 | 4,800 |
/// | professional | $50 | 12,000 (the seed's average company) |
/// | premium | $80 | 19,200 |
/// | enterprise | $150 | 36,000 |
///
/// `Tier::Unknown` (a tier a newer schema added) gets the starter limits: the safe side until
/// this build learns the tier.
pub fn tier_default(tier: Tier) -> MonthlyLimits {
    let usd: i64 = match tier {
        Tier::Starter | Tier::Unknown => 20,
        Tier::Professional => 50,
        Tier::Premium => 80,
        Tier::Enterprise => 150,
    };
    MonthlyLimits {
        queries: Some(usd.unsigned_abs() * DEFAULT_QUERIES_PER_USD),
        cost_micro_usd: Some(usd * MICRO_USD_PER_USD),
        tier: Some(tier),
    }
}

/// The default limits of every tier, configurable. `Tier::Unknown` uses `starter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierDefaults {
    /// Default [`tier_default`]`(Starter)`: 4,800 queries, $20.
    pub starter: MonthlyLimits,
    /// Default 12,000 queries, $50.
    pub professional: MonthlyLimits,
    /// Default 19,200 queries, $80.
    pub premium: MonthlyLimits,
    /// Default 36,000 queries, $150.
    pub enterprise: MonthlyLimits,
}

impl Default for TierDefaults {
    fn default() -> Self {
        TierDefaults {
            starter: tier_default(Tier::Starter),
            professional: tier_default(Tier::Professional),
            premium: tier_default(Tier::Premium),
            enterprise: tier_default(Tier::Enterprise),
        }
    }
}

impl TierDefaults {
    /// The tier's limits (starter's for `Unknown`) with `overrides` applied.
    pub fn limits_for(&self, tier: Tier, overrides: &Overrides) -> MonthlyLimits {
        let defaults = match tier {
            Tier::Starter | Tier::Unknown => self.starter,
            Tier::Professional => self.professional,
            Tier::Premium => self.premium,
            Tier::Enterprise => self.enterprise,
        };
        MonthlyLimits {
            queries: overrides.queries.unwrap_or(defaults.queries),
            cost_micro_usd: overrides.cost_micro_usd.unwrap_or(defaults.cost_micro_usd),
            tier: Some(tier),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        for (field, limits) in [
            ("tier_defaults.starter", self.starter),
            ("tier_defaults.professional", self.professional),
            ("tier_defaults.premium", self.premium),
            ("tier_defaults.enterprise", self.enterprise),
        ] {
            if limits.cost_micro_usd.is_some_and(|c| c < 0) {
                return Err(Error::InvalidOption {
                    field,
                    reason: "cost_micro_usd must not be negative".into(),
                });
            }
        }
        Ok(())
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

/// Serde for an optional limit: a number, or the string `"unlimited"` for `None`. A missing
/// field is an error, so a config that forgets a limit does not silently lift it.
mod unlimited {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    const WORD: &str = "unlimited";

    pub(super) fn serialize<S: Serializer, T: Serialize>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(limit) => limit.serialize(serializer),
            None => serializer.serialize_str(WORD),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Cap<T> {
            Limit(T),
            Word(String),
        }
        match Cap::<T>::deserialize(deserializer)? {
            Cap::Limit(limit) => Ok(Some(limit)),
            Cap::Word(word) if word == WORD => Ok(None),
            Cap::Word(word) => Err(D::Error::custom(format!(
                "expected a non-negative number or \"{WORD}\", got {word:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_defaults_follow_the_seed_cost_table_at_240_queries_per_dollar() {
        let defaults = TierDefaults::default();
        let none = Overrides::default();
        for (tier, queries, usd) in [
            (Tier::Starter, 4_800, 20),
            (Tier::Professional, 12_000, 50),
            (Tier::Premium, 19_200, 80),
            (Tier::Enterprise, 36_000, 150),
        ] {
            assert_eq!(
                defaults.limits_for(tier, &none),
                MonthlyLimits {
                    queries: Some(queries),
                    cost_micro_usd: Some(usd * 1_000_000),
                    tier: Some(tier),
                }
            );
        }
    }

    #[test]
    fn unknown_tier_gets_the_starter_limits() {
        let limits = TierDefaults::default().limits_for(Tier::Unknown, &Overrides::default());
        assert_eq!(limits.queries, Some(4_800));
        assert_eq!(limits.cost_micro_usd, Some(20_000_000));
    }

    #[test]
    fn overrides_beat_tier_defaults_field_by_field() {
        let defaults = TierDefaults::default();
        let overrides = Overrides {
            queries: Some(None),
            cost_micro_usd: Some(Some(7)),
        };
        let limits = defaults.limits_for(Tier::Premium, &overrides);
        assert_eq!((limits.queries, limits.cost_micro_usd), (None, Some(7)));
        let only_queries = Overrides {
            queries: Some(Some(3)),
            ..Overrides::default()
        };
        let limits = defaults.limits_for(Tier::Premium, &only_queries);
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
