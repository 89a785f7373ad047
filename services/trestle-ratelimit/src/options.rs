//! [`RateLimitOptions`]: the rate limiter's own knobs. Where Redis is and what happens when it
//! does not answer are the shared [`RedisOptions`](trestle_redis::RedisOptions); the rate of
//! each tier is the tier table's (`trestle_tiers::TierTable`).

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limit::DEFAULT_BURST_FRACTION;

/// Configuration of a [`RateLimiter`](crate::RateLimiter); build one with
/// [`RateLimiter::new`](crate::RateLimiter::new).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitOptions {
    /// Inserted after the Redis `key_prefix`: a company's key is
    /// `{key_prefix}{key_scope}rl:{company_id}`, so two limiters on one Redis (the engine's
    /// rate limit and its degrade allowance, `degraded:`) keep apart. Default empty.
    pub key_scope: String,
    /// Burst of the tier limits as a fraction of a minute's worth: `burst = max(1,
    /// round(per_minute × burst_fraction))`. Default 1/6 (starter 2, professional 5, premium 10,
    /// enterprise 20).
    pub burst_fraction: f64,
}

impl Default for RateLimitOptions {
    fn default() -> Self {
        RateLimitOptions {
            key_scope: String::new(),
            burst_fraction: DEFAULT_BURST_FRACTION,
        }
    }
}

impl RateLimitOptions {
    /// Checks every field.
    pub(crate) fn validate(&self) -> Result<(), Error> {
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
        for burst_fraction in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
            let options = RateLimitOptions {
                burst_fraction,
                ..Default::default()
            };
            match options.validate() {
                Err(Error::InvalidOption { field, .. }) => assert_eq!(field, "burst_fraction"),
                other => panic!("{burst_fraction}: expected InvalidOption, got {other:?}"),
            }
        }
    }
}
