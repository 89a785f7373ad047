//! [`BudgetOptions`]: how long holds live and what happens when Redis does not answer. Where
//! Redis is, how long a call may wait and how many instances share the limits are the shared
//! [`RedisOptions`](trestle_redis::RedisOptions); each tier's monthly allowance is the tier
//! table's (`trestle_tiers::TierTable`).

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A month is at most 31 days; a budget's keys must outlive the month they count.
const LONGEST_MONTH_MS: u64 = 31 * 24 * 3_600_000;

/// Configuration of [`Budgets`](crate::Budgets); build one with
/// [`Budgets::new`](crate::Budgets::new).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetOptions {
    /// During an outage, a company this instance has not seen in Redis this month counts as
    /// having this percentage of its limits left (then divided by `fallback_instances`).
    /// Default 10.
    pub fallback_unseen_percent: u8,
    /// At most this many settles and releases wait in memory for Redis during an outage; the
    /// oldest beyond are dropped (counted, logged). Default 100,000.
    pub fallback_max_queued: usize,
    /// A reservation never settled or released (its engine crashed) stops holding room this
    /// long after it was made. Must exceed the longest AI call. Default 120,000 (2 minutes).
    pub reservation_ttl_ms: u64,
    /// A settle or release counts at most once if it comes within this long of its reservation;
    /// later ones are ignored ([`Completion::TooLate`](crate::Completion::TooLate)). Redis
    /// remembers completed reservation ids this long. At least `reservation_ttl_ms`. Default
    /// 3,600,000 (1 hour).
    pub settle_window_ms: u64,
    /// A month's keys expire this long after their last write, so old months vanish. More than
    /// 31 days. Default 3,456,000,000 (40 days).
    pub month_key_ttl_ms: u64,
}

impl Default for BudgetOptions {
    fn default() -> Self {
        BudgetOptions {
            fallback_unseen_percent: 10,
            fallback_max_queued: 100_000,
            reservation_ttl_ms: 120_000,
            settle_window_ms: 3_600_000,
            month_key_ttl_ms: 40 * 24 * 3_600_000,
        }
    }
}

impl BudgetOptions {
    /// Checks every field that a connection attempt would not.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |field, reason: String| Err(Error::InvalidOption { field, reason });
        if self.reservation_ttl_ms == 0 {
            return invalid("reservation_ttl_ms", "must be at least 1".into());
        }
        if self.fallback_unseen_percent > 100 {
            return invalid("fallback_unseen_percent", "must be at most 100".into());
        }
        if self.settle_window_ms < self.reservation_ttl_ms {
            return invalid(
                "settle_window_ms",
                format!(
                    "must be at least reservation_ttl_ms ({})",
                    self.reservation_ttl_ms
                ),
            );
        }
        if self.month_key_ttl_ms <= LONGEST_MONTH_MS.max(self.settle_window_ms) {
            return invalid(
                "month_key_ttl_ms",
                format!("must exceed 31 days ({LONGEST_MONTH_MS}) and settle_window_ms"),
            );
        }
        // Scores and expiries are ms in Lua doubles: keep every duration far below 2^53.
        for (field, value) in [
            ("reservation_ttl_ms", self.reservation_ttl_ms),
            ("settle_window_ms", self.settle_window_ms),
            ("month_key_ttl_ms", self.month_key_ttl_ms),
        ] {
            if value > 1 << 40 {
                return invalid(field, format!("must be at most {}", 1u64 << 40));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        BudgetOptions::default().validate().unwrap();
    }

    #[test]
    fn rejects_zero_and_inconsistent_values() {
        let cases = [
            (
                BudgetOptions {
                    reservation_ttl_ms: 0,
                    ..Default::default()
                },
                "reservation_ttl_ms",
            ),
            (
                BudgetOptions {
                    settle_window_ms: 1_000,
                    ..Default::default()
                },
                "settle_window_ms",
            ),
            (
                BudgetOptions {
                    month_key_ttl_ms: 30 * 24 * 3_600_000,
                    ..Default::default()
                },
                "month_key_ttl_ms",
            ),
            (
                BudgetOptions {
                    fallback_unseen_percent: 101,
                    ..Default::default()
                },
                "fallback_unseen_percent",
            ),
        ];
        for (options, field) in cases {
            match options.validate() {
                Err(Error::InvalidOption { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidOption, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_typo_in_the_config_stops_start_up() {
        let typo = r#"{"reservation_ttl": 5}"#;
        assert!(serde_json::from_str::<BudgetOptions>(typo).is_err());
        let partial: BudgetOptions =
            serde_json::from_str(r#"{"fallback_unseen_percent": 5}"#).unwrap();
        assert_eq!(partial.fallback_unseen_percent, 5);
        assert_eq!(partial.reservation_ttl_ms, 120_000);
        let moved = r#"{"redis_url": "redis://elsewhere:6379"}"#;
        assert!(
            serde_json::from_str::<BudgetOptions>(moved).is_err(),
            "Redis settings live in the one [redis] section"
        );
    }
}
