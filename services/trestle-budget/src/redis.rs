//! The shared store: the budget script (`budget.lua`) on Redis over one fred connection.
//!
//! One call is one `EVALSHA` (one round trip); if Redis lost its script cache (restart,
//! `SCRIPT FLUSH`) the `NOSCRIPT` reply is followed by one `EVAL`, which caches it again. Every
//! command fails fast instead of queueing while disconnected and is bounded by `timeout_ms`, so a
//! Redis that is down or hung costs a call at most that long. (The connection setup is
//! trestle-ratelimit's.)

use std::time::Duration;

use fred::clients::WithOptions;
use fred::prelude::*;
use fred::types::config::UnresponsiveConfig;
use fred::types::{ConnectHandle, CustomCommand};
use sha1::{Digest, Sha1};

use crate::error::{redacted, Error};
use crate::options::BudgetOptions;
use crate::script::{Call, Reply};

/// The script, loaded at compile time so the SHA-1 is known without a round trip.
const SCRIPT: &str = include_str!("budget.lua");

pub(crate) struct RedisBudget {
    /// The client with the per-call options (timeout, fail fast, one attempt).
    client: WithOptions<Client>,
    sha: String,
    timeout: Duration,
    /// The task that drives the connection and reconnects; aborted on drop.
    connection: Option<ConnectHandle>,
}

/// Why Redis did not answer.
#[derive(Debug)]
pub(crate) enum Trouble {
    /// No answer within `timeout_ms` (or no connection within `connect_timeout_ms`).
    Timeout(Duration),
    /// The client or the server reported an error.
    Redis(fred::error::Error),
    /// The script answered something it never answers.
    Reply(Vec<i64>),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Timeout(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Trouble::Redis(error) => write!(f, "{error}"),
            Trouble::Reply(reply) => write!(f, "unexpected script reply {reply:?}"),
        }
    }
}

impl RedisBudget {
    /// Creates the client and starts connecting; waits up to `connect_timeout_ms` for the first
    /// connection. Returns why it is not connected yet, if it is not: the caller starts in
    /// fallback, and the client keeps reconnecting in the background.
    pub(crate) async fn connect(
        options: &BudgetOptions,
    ) -> Result<(RedisBudget, Option<Trouble>), Error> {
        let url_error = |source| Error::RedisUrl {
            url: redacted(&options.redis_url),
            source,
        };
        let mut config = Config::from_url(&options.redis_url).map_err(url_error)?;
        // Run the reconnection policy for the first connection too: Redis may come up later.
        config.fail_fast = false;

        let timeout = Duration::from_millis(options.timeout_ms);
        let connect_timeout = Duration::from_millis(options.connect_timeout_ms);
        // Validated to fit in u32.
        let probe_ms = u32::try_from(options.probe_interval_ms).unwrap_or(u32::MAX);
        // 1 ms, 2 ms, 4 ms … up to the probe interval, forever; jitter spreads the instances.
        let mut policy = ReconnectPolicy::new_exponential(0, 1, probe_ms, 2);
        policy.set_jitter((probe_ms / 4).min(100));

        let mut builder = Builder::from_config(config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = connect_timeout;
                c.internal_command_timeout = connect_timeout;
                c.max_command_attempts = 1;
                // A connection that stops answering (hung server, dead peer) is replaced.
                c.unresponsive = UnresponsiveConfig {
                    max_timeout: Some(connect_timeout),
                    interval: (connect_timeout / 4).max(Duration::from_millis(10)),
                };
            })
            .with_performance_config(|p| p.default_command_timeout = timeout)
            .set_policy(policy);
        let client = builder.build().map_err(url_error)?;

        // Subscribe before connecting so the first event cannot be missed.
        let mut connected = client.reconnect_rx();
        let mut errors = client.error_rx();
        let connection = client.connect();
        let first = tokio::time::timeout(connect_timeout, async {
            tokio::select! {
                _ = connected.recv() => {
                    // The reconnect event comes just before the client marks itself connected;
                    // wait for that too, or the first call would find it not connected.
                    client.wait_for_connect().await.err()
                }
                error = errors.recv() => error.ok().map(|(error, _)| error),
            }
        })
        .await;
        let trouble = if client.is_connected() {
            None
        } else {
            Some(match first {
                Ok(Some(error)) => Trouble::Redis(error),
                _ => Trouble::Timeout(connect_timeout),
            })
        };

        let per_call = Options {
            timeout: Some(timeout),
            fail_fast: true,
            max_attempts: Some(1),
            ..Options::default()
        };
        let budget = RedisBudget {
            client: client.with_options(&per_call),
            sha: format!("{:x}", Sha1::digest(SCRIPT.as_bytes())),
            timeout,
            connection: Some(connection),
        };
        Ok((budget, trouble))
    }

    /// Runs the script once; at most `timeout_ms` in all.
    pub(crate) async fn run(&self, call: &Call) -> Result<Reply, Trouble> {
        let args = |script: &str| -> Vec<Value> {
            let mut args: Vec<Value> = vec![script.into(), 3.into()];
            args.extend(call.keys.iter().map(|key| Value::from(key.as_str())));
            args.extend(call.args.iter().map(|arg| Value::from(arg.as_str())));
            args
        };
        // `custom`, not `LuaInterface::evalsha`: fred implements `LuaInterface` for `Client` but
        // not for `WithOptions`, so `evalsha` would silently drop the per-call options (fail
        // fast). The first key's hash slot routes the command.
        let command = |name| CustomCommand::new_static(name, call.keys[0].as_str(), false);
        let reply: Vec<i64> = tokio::time::timeout(self.timeout, async {
            match self
                .client
                .custom(command("EVALSHA"), args(&self.sha))
                .await
            {
                Err(error) if error.details().starts_with("NOSCRIPT") => {
                    self.client.custom(command("EVAL"), args(SCRIPT)).await
                }
                reply => reply,
            }
        })
        .await
        .map_err(|_| Trouble::Timeout(self.timeout))?
        .map_err(|error| {
            if *error.kind() == ErrorKind::Timeout {
                Trouble::Timeout(self.timeout)
            } else {
                Trouble::Redis(error)
            }
        })?;
        Reply::parse(call.op, &reply).ok_or(Trouble::Reply(reply))
    }
}

impl Drop for RedisBudget {
    fn drop(&mut self) {
        // Nothing else uses the client: stop reconnecting to a Redis nobody asks any more.
        if let Some(task) = self.connection.take() {
            task.abort();
        }
    }
}
