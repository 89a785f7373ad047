//! Configuration of the breakers: one block of options per provider, with a default.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Most buckets a window may have; bounds the memory of one breaker.
const MAX_WINDOW_BUCKETS: u32 = 1_000;

/// Options of the breakers of one provider.
///
/// The defaults suit a remote AI provider answering in seconds: judge it on the last minute,
/// but only once it has had 20 calls; open at half of them failing; wait 30 s, doubling up to
/// 5 min while probes keep failing; close after 3 successful probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerOptions {
    /// Length of the sliding window over which a closed breaker computes its failure rate.
    /// Default: `60000` (one minute).
    pub window_ms: u64,
    /// Buckets the window is divided into (at most 1000, and at most one per millisecond).
    /// Memory per breaker is one bucket each; an outcome leaves the window between
    /// `window_ms - window_ms / window_buckets` and `window_ms` after it was recorded.
    /// Default: `10`.
    pub window_buckets: u32,
    /// Calls the window must hold before the failure rate can open the breaker, so a handful
    /// of failures after a quiet spell does not. Default: `20`.
    pub minimum_calls: u32,
    /// Failure rate over the window (failures / calls, above 0.0 and at most 1.0) at or above
    /// which the breaker opens. Default: `0.5`.
    pub failure_rate_threshold: f64,
    /// A call reported successful that took at least this long (from acquire to record)
    /// counts as a failure; unset, slowness is never a failure. Default: unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_call_ms: Option<u64>,
    /// How long an open breaker refuses calls before it lets probes through (half-open).
    /// Default: `30000`.
    pub open_duration_ms: u64,
    /// Each failed probe doubles the open duration, up to this cap; a close resets it. Set it
    /// equal to `open_duration_ms` for a fixed open duration. Default: `300000`.
    pub max_open_duration_ms: u64,
    /// Trial calls a half-open breaker lets through; all of them must succeed for it to
    /// close, and no more than this many are ever granted at once. Default: `3`.
    pub half_open_probes: u32,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            window_ms: 60_000,
            window_buckets: 10,
            minimum_calls: 20,
            failure_rate_threshold: 0.5,
            slow_call_ms: None,
            open_duration_ms: 30_000,
            max_open_duration_ms: 300_000,
            half_open_probes: 3,
        }
    }
}

impl BreakerOptions {
    /// The open duration after `reopenings` consecutive failed probe rounds: doubled each
    /// time, capped at `max_open_duration_ms`.
    pub(crate) fn open_duration(&self, reopenings: u32) -> Duration {
        let factor = 1u64.checked_shl(reopenings).unwrap_or(u64::MAX);
        let ms = self
            .open_duration_ms
            .saturating_mul(factor)
            .min(self.max_open_duration_ms);
        Duration::from_millis(ms)
    }

    /// Checks every field is in range; `scope` names this block in the error.
    pub(crate) fn validate(&self, scope: &str) -> Result<(), Error> {
        let invalid = |field, reason| Error::InvalidOptions {
            scope: scope.to_owned(),
            field,
            reason,
        };
        if self.window_buckets == 0 || self.window_buckets > MAX_WINDOW_BUCKETS {
            return Err(invalid("window_buckets", "must be between 1 and 1000"));
        }
        if self.window_ms < u64::from(self.window_buckets) {
            return Err(invalid(
                "window_ms",
                "must be at least window_buckets (one millisecond per bucket)",
            ));
        }
        if self.minimum_calls == 0 {
            return Err(invalid("minimum_calls", "must be at least 1"));
        }
        let threshold = self.failure_rate_threshold;
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(invalid(
                "failure_rate_threshold",
                "must be above 0.0 and at most 1.0",
            ));
        }
        if self.slow_call_ms == Some(0) {
            return Err(invalid("slow_call_ms", "must be at least 1 when set"));
        }
        if self.open_duration_ms == 0 {
            return Err(invalid("open_duration_ms", "must be at least 1"));
        }
        if self.max_open_duration_ms < self.open_duration_ms {
            return Err(invalid(
                "max_open_duration_ms",
                "must be at least open_duration_ms",
            ));
        }
        if self.half_open_probes == 0 {
            return Err(invalid("half_open_probes", "must be at least 1"));
        }
        Ok(())
    }
}

/// Options of a [`crate::Breakers`] registry: a default and per-provider overrides.
///
/// In TOML:
///
/// ```toml
/// [default]
/// minimum_calls = 20
///
/// [providers.notebooklm]
/// open_duration_ms = 60000
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakersOptions {
    /// Options of every provider not listed in `providers`. Default: [`BreakerOptions`]'s.
    pub default: BreakerOptions,
    /// Options per provider name (as in [`crate::BreakerKey::provider`]). An entry replaces
    /// `default` as a whole: fields it leaves out take the built-in defaults, not `default`'s.
    /// Default: empty.
    pub providers: BTreeMap<String, BreakerOptions>,
}

impl BreakersOptions {
    /// The options that apply to `provider`.
    pub fn for_provider(&self, provider: &str) -> &BreakerOptions {
        self.providers.get(provider).unwrap_or(&self.default)
    }

    /// Checks every block is in range; [`crate::Breakers::new`] calls it.
    pub fn validate(&self) -> Result<(), Error> {
        self.default.validate("default")?;
        for (provider, options) in &self.providers {
            options.validate(&format!("providers.{provider}"))?;
        }
        Ok(())
    }
}
