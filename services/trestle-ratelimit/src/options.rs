//! [`RateLimitOptions`]: how a limiter reaches Redis and what it does when Redis does not answer.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limit::DEFAULT_BURST_FRACTION;

/// Configuration of a [`RateLimiter`](crate::RateLimiter). Defaults match the local stack
/// (`compose/stack up`); build one with [`RateLimitOptions::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitOptions {
    /// Redis shared by every engine instance of the region. Default `redis://127.0.0.1:16379`.
    pub redis_url: String,
    /// Prepended to every key; a company's key is `{key_prefix}rl:{company_id}`. Default
    /// `trestle:`. Tests use a unique prefix each.
    pub key_prefix: String,
    /// Longest a decision waits for Redis before the local fallback decides. Default 50.
    pub timeout_ms: u64,
    /// Longest [`build`](RateLimitOptions::build) waits for the first connection, and the TCP
    /// connect timeout. Redis being down at start-up is not an error: the limiter starts in
    /// fallback. Default 1000.
    pub connect_timeout_ms: u64,
    /// During an outage, at most one decision per this interval tries Redis (the others go
    /// straight to the fallback); also the longest pause between reconnection attempts.
    /// Default 1000.
    pub probe_interval_ms: u64,
    /// How many engine instances share the limits. During an outage each instance allows
    /// `1 / fallback_instances` of every limit on its own. Default 1.
    pub fallback_instances: u32,
    /// Burst of the tier limits as a fraction of a minute's worth: `burst = max(1,
    /// round(per_minute × burst_fraction))`. Default 1/6 (starter 2, professional 5, premium 10,
    /// enterprise 20).
    pub burst_fraction: f64,
}

impl Default for RateLimitOptions {
    fn default() -> Self {
        RateLimitOptions {
            redis_url: "redis://127.0.0.1:16379".into(),
            key_prefix: "trestle:".into(),
            timeout_ms: 50,
            connect_timeout_ms: 1000,
            probe_interval_ms: 1000,
            fallback_instances: 1,
            burst_fraction: DEFAULT_BURST_FRACTION,
        }
    }
}

impl RateLimitOptions {
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
        let positive = [
            ("timeout_ms", self.timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("probe_interval_ms", self.probe_interval_ms),
            ("fallback_instances", u64::from(self.fallback_instances)),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::InvalidOption {
                    field,
                    reason: "must be at least 1".into(),
                });
            }
        }
        if u32::try_from(self.probe_interval_ms).is_err() {
            return Err(Error::InvalidOption {
                field: "probe_interval_ms",
                reason: format!("must be at most {}", u32::MAX),
            });
        }
        if !(self.burst_fraction.is_finite() && self.burst_fraction > 0.0) {
            return Err(Error::InvalidOption {
                field: "burst_fraction",
                reason: format!("must be a positive number, got {}", self.burst_fraction),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        RateLimitOptions::default().validate().unwrap();
    }

    #[test]
    fn rejects_zero_and_nonsense_values() {
        for (options, field) in [
            (
                RateLimitOptions {
                    timeout_ms: 0,
                    ..Default::default()
                },
                "timeout_ms",
            ),
            (
                RateLimitOptions {
                    fallback_instances: 0,
                    ..Default::default()
                },
                "fallback_instances",
            ),
            (
                RateLimitOptions {
                    burst_fraction: f64::NAN,
                    ..Default::default()
                },
                "burst_fraction",
            ),
        ] {
            match options.validate() {
                Err(Error::InvalidOption { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidOption, got {other:?}"),
            }
        }
    }
}
