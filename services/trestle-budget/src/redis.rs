//! The shared store: the budget script (`budget.lua`) on Redis over one fred connection
//! (trestle-redis's `ScriptConnection`, shared with trestle-ratelimit).
//!
//! One call is one `EVALSHA` (one round trip); if Redis lost its script cache (restart,
//! `SCRIPT FLUSH`) the `NOSCRIPT` reply is followed by one `EVAL`, which caches it again. Every
//! command fails fast instead of queueing while disconnected and is bounded by `timeout_ms`, so a
//! Redis that is down or hung costs a call at most that long.

use trestle_redis::{ScriptConnection, Trouble, Value};

use crate::error::Error;
use crate::options::BudgetOptions;
use crate::script::{Call, Reply};

/// The script, loaded at compile time so the SHA-1 is known without a round trip.
const SCRIPT: &str = include_str!("budget.lua");

/// The connection running `budget.lua` (connection setup, fail-fast options and the `NOSCRIPT`
/// fallback are trestle-redis's).
pub(crate) struct RedisBudget {
    redis: ScriptConnection,
}

impl RedisBudget {
    /// Creates the client and starts connecting; waits up to `connect_timeout_ms` for the first
    /// connection. Returns why it is not connected yet, if it is not: the caller starts in
    /// fallback, and the client keeps reconnecting in the background.
    pub(crate) async fn connect(
        options: &BudgetOptions,
    ) -> Result<(RedisBudget, Option<Trouble>), Error> {
        let (redis, trouble) = ScriptConnection::connect(&options.redis_settings(), SCRIPT).await?;
        Ok((RedisBudget { redis }, trouble))
    }

    /// Runs the script once; at most `timeout_ms` in all. The first key (the month's hash)
    /// routes the command.
    pub(crate) async fn run(&self, call: &Call) -> Result<Reply, Trouble> {
        let args: Vec<Value> = call
            .args
            .iter()
            .map(|arg| Value::from(arg.as_str()))
            .collect();
        let reply = self.redis.run(&call.keys, &args).await?;
        Reply::parse(call.op, &reply).ok_or(Trouble::Reply(reply))
    }
}
