//! The shared store: the GCRA script (`gcra.lua`) on the engine's one Redis connection
//! (trestle-redis's [`Redis`]).
//!
//! One decision is one `EVALSHA` (one round trip); if Redis lost its script cache (restart,
//! `SCRIPT FLUSH`) the `NOSCRIPT` reply is followed by one `EVAL`, which caches it again. Every
//! command fails fast instead of queueing while disconnected and is bounded by `timeout_ms`, so a
//! Redis that is down or hung costs a decision at most that long.

use trestle_redis::{Redis, Script, Trouble, Value};

use crate::gcra::{Params, Verdict};

/// The script, loaded at compile time so the SHA-1 is known without a round trip.
const SCRIPT: &str = include_str!("gcra.lua");

/// The connection running `gcra.lua` (connection setup, fail-fast options and the `NOSCRIPT`
/// fallback are trestle-redis's).
pub(crate) struct RedisGcra {
    redis: Redis,
    script: Script,
}

impl RedisGcra {
    pub(crate) fn new(redis: Redis) -> RedisGcra {
        RedisGcra {
            redis,
            script: Script::new(SCRIPT),
        }
    }

    /// Runs the script for `key`; at most `timeout_ms` in all.
    pub(crate) async fn decide(
        &self,
        key: &str,
        params: Params,
        n: u32,
    ) -> Result<Verdict, Trouble> {
        let args = [
            Value::from(i64::try_from(params.interval_us).unwrap_or(i64::MAX)),
            Value::from(i64::from(params.burst)),
            Value::from(i64::from(n)),
        ];
        let reply = self.redis.run(&self.script, &[key], &args).await?;
        parse(reply)
    }
}

/// `{1, remaining}`, `{0, retry_after_us}` or `{0, -1}` (never).
fn parse(reply: Vec<i64>) -> Result<Verdict, Trouble> {
    match reply.as_slice() {
        [1, remaining] if *remaining >= 0 => Ok(Verdict::Allowed {
            remaining: u32::try_from(*remaining).unwrap_or(u32::MAX),
        }),
        [0, -1] => Ok(Verdict::Limited {
            retry_after_us: None,
        }),
        [0, retry_after_us] if *retry_after_us > 0 => Ok(Verdict::Limited {
            retry_after_us: Some(retry_after_us.unsigned_abs()),
        }),
        _ => Err(Trouble::Reply(reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reply_the_script_gives() {
        assert_eq!(
            parse(vec![1, 4]).unwrap(),
            Verdict::Allowed { remaining: 4 }
        );
        assert_eq!(
            parse(vec![0, 1500]).unwrap(),
            Verdict::Limited {
                retry_after_us: Some(1500)
            }
        );
        assert_eq!(
            parse(vec![0, -1]).unwrap(),
            Verdict::Limited {
                retry_after_us: None
            }
        );
        assert!(parse(vec![2]).is_err());
        assert!(parse(vec![0, 0]).is_err());
    }
}
