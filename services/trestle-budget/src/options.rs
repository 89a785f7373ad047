//! [`BudgetOptions`]: how budgets reach Redis, how long holds live, what happens when Redis
//! does not answer, and the tier defaults.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limits::TierDefaults;

/// A month is at most 31 days; a budget's keys must outlive the month they count.
const LONGEST_MONTH_MS: u64 = 31 * 24 * 3_600_000;

/// Configuration of [`Budgets`](crate::Budgets). Defaults match the local stack
/// (`compose/stack up`); build one with [`BudgetOptions::build`](crate::BudgetOptions::build).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetOptions {
    /// Redis shared by every engine instance of the region. Default `redis://127.0.0.1:16379`.
    pub redis_url: String,
    /// Prepended to every key; a company's month is `{key_prefix}budget:{company_id}:{YYYY-MM}`.
    /// Default `trestle:`. Tests use a unique prefix each.
    pub key_prefix: String,
    /// Longest a call waits for Redis before the fallback answers. Default 50.
    pub timeout_ms: u64,
    /// Longest [`build`](BudgetOptions::build) waits for the first connection, and the TCP
    /// connect timeout. Redis being down at start-up is not an error. Default 1000.
    pub connect_timeout_ms: u64,
    /// During an outage, at most one call per this interval tries Redis; also the longest pause
    /// between reconnection attempts. Default 1000.
    pub probe_interval_ms: u64,
    /// How many engine instances share the budgets. During an outage each instance grants
    /// `1 / fallback_instances` of what is left on its own. Default 1.
    pub fallback_instances: u32,
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
    /// Default limits per tier; see [`tier_default`](crate::tier_default).
    pub tier_defaults: TierDefaults,
}

impl Default for BudgetOptions {
    fn default() -> Self {
        BudgetOptions {
            redis_url: "redis://127.0.0.1:16379".into(),
            key_prefix: "trestle:".into(),
            timeout_ms: 50,
            connect_timeout_ms: 1000,
            probe_interval_ms: 1000,
            fallback_instances: 1,
            fallback_unseen_percent: 10,
            fallback_max_queued: 100_000,
            reservation_ttl_ms: 120_000,
            settle_window_ms: 3_600_000,
            month_key_ttl_ms: 40 * 24 * 3_600_000,
            tier_defaults: TierDefaults::default(),
        }
    }
}

impl BudgetOptions {
    /// How the connection reaches Redis (options validated first).
    pub(crate) fn redis_settings(&self) -> trestle_redis::Settings {
        trestle_redis::Settings::from_ms(
            &self.redis_url,
            self.timeout_ms,
            self.connect_timeout_ms,
            self.probe_interval_ms,
        )
    }

    /// Checks every field that a connection attempt would not.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |field, reason: String| Err(Error::InvalidOption { field, reason });
        let positive = [
            ("timeout_ms", self.timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("probe_interval_ms", self.probe_interval_ms),
            ("fallback_instances", u64::from(self.fallback_instances)),
            ("reservation_ttl_ms", self.reservation_ttl_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                return invalid(field, "must be at least 1".into());
            }
        }
        if u32::try_from(self.probe_interval_ms).is_err() {
            return invalid("probe_interval_ms", format!("must be at most {}", u32::MAX));
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
        self.tier_defaults.validate()
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
                    fallback_instances: 0,
                    ..Default::default()
                },
                "fallback_instances",
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
        let mut negative = BudgetOptions::default();
        negative.tier_defaults.premium.cost_micro_usd = Some(-1);
        assert!(negative.validate().is_err());
    }

    #[test]
    fn a_typo_in_the_config_stops_start_up() {
        let typo = r#"{"reservation_ttl": 5}"#;
        assert!(serde_json::from_str::<BudgetOptions>(typo).is_err());
        let partial: BudgetOptions = serde_json::from_str(
            r#"{"tier_defaults": {"enterprise": {"queries": "unlimited", "cost_micro_usd": 1}}}"#,
        )
        .unwrap();
        assert_eq!(partial.tier_defaults.enterprise.queries, None);
        assert_eq!(partial.tier_defaults.starter.queries, Some(4_800));
        assert_eq!(partial.reservation_ttl_ms, 120_000);
    }
}
