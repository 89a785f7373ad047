//! The shared store: the budget script (`budget.lua`) on the engine's one Redis connection
//! (trestle-redis's [`Redis`], shared with the rate limits and the cache).
//!
//! One call is one `EVALSHA` (one round trip); if Redis lost its script cache (restart,
//! `SCRIPT FLUSH`) the `NOSCRIPT` reply is followed by one `EVAL`, which caches it again. Every
//! command fails fast instead of queueing while disconnected and is bounded by `timeout_ms`, so a
//! Redis that is down or hung costs a call at most that long.

use trestle_redis::{Redis, Script, Trouble, Value};

use crate::script::{Call, Reply};

/// The script, loaded at compile time so the SHA-1 is known without a round trip.
const SCRIPT: &str = include_str!("budget.lua");

/// The connection running `budget.lua` (fail-fast options and the `NOSCRIPT` fallback are
/// trestle-redis's).
pub(crate) struct RedisBudget {
    redis: Redis,
    script: Script,
}

impl RedisBudget {
    pub(crate) fn new(redis: Redis) -> RedisBudget {
        RedisBudget {
            redis,
            script: Script::new(SCRIPT),
        }
    }

    /// Runs the script once; at most `timeout_ms` in all. The first key (the month's hash)
    /// routes the command.
    pub(crate) async fn run(&self, call: &Call) -> Result<Reply, Trouble> {
        let args: Vec<Value> = call
            .args
            .iter()
            .map(|arg| Value::from(arg.as_str()))
            .collect();
        let reply = self.redis.run(&self.script, &call.keys, &args).await?;
        Reply::parse(call.op, &reply).ok_or(Trouble::Reply(reply))
    }
}
