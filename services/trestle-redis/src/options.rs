//! [`RedisOptions`]: the engine's one Redis section, shared by rate limits, cost limits and the
//! response cache.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How to reach the region's Redis, how long to wait for it, and how its users share it.
/// Defaults match the local stack (`compose/stack up`); connect with
/// [`RedisOptions::connect`](crate::RedisOptions::connect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisOptions {
    /// Redis shared by every engine instance of the region. Default `redis://127.0.0.1:16379`.
    pub redis_url: String,
    /// Prepended to every key (rate limits `{key_prefix}rl:…`, budgets `{key_prefix}budget:…`,
    /// the cache `{key_prefix}cache:…`). Default `trestle:`. Tests use a unique prefix each.
    pub key_prefix: String,
    /// Longest one call waits for Redis before its caller's fallback answers. Default 50.
    pub timeout_ms: u64,
    /// Longest [`connect`](RedisOptions::connect) waits for the first connection, and the TCP
    /// connect timeout. Redis being down at start-up is not an error: callers start in
    /// fallback. Default 1000.
    pub connect_timeout_ms: u64,
    /// During an outage, at most one call per this interval (per user of the connection) tries
    /// Redis, the others go straight to the fallback; also the longest pause between
    /// reconnection attempts. Default 1000.
    pub probe_interval_ms: u64,
    /// How many engine instances share the limits. During an outage each instance allows
    /// `1 / fallback_instances` of every limit on its own. Default 1.
    pub fallback_instances: u32,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            redis_url: "redis://127.0.0.1:16379".into(),
            key_prefix: "trestle:".into(),
            timeout_ms: 50,
            connect_timeout_ms: 1000,
            probe_interval_ms: 1000,
            fallback_instances: 1,
        }
    }
}

impl RedisOptions {
    /// Checks every field that a connection attempt would not.
    pub fn validate(&self) -> Result<(), Error> {
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        RedisOptions::default().validate().unwrap();
    }

    #[test]
    fn rejects_zero_and_nonsense_values() {
        for (options, field) in [
            (
                RedisOptions {
                    timeout_ms: 0,
                    ..Default::default()
                },
                "timeout_ms",
            ),
            (
                RedisOptions {
                    fallback_instances: 0,
                    ..Default::default()
                },
                "fallback_instances",
            ),
            (
                RedisOptions {
                    probe_interval_ms: u64::from(u32::MAX) + 1,
                    ..Default::default()
                },
                "probe_interval_ms",
            ),
        ] {
            match options.validate() {
                Err(Error::InvalidOption { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidOption, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_typo_in_the_section_stops_start_up() {
        assert!(serde_json::from_str::<RedisOptions>(r#"{"redis": "x"}"#).is_err());
        let partial: RedisOptions = serde_json::from_str(r#"{"timeout_ms": 7}"#).unwrap();
        assert_eq!((partial.timeout_ms, partial.connect_timeout_ms), (7, 1000));
    }
}
