//! One fred connection that runs one Lua script, failing fast.
//!
//! One call is one `EVALSHA` (one round trip); if Redis lost its script cache (restart,
//! `SCRIPT FLUSH`) the `NOSCRIPT` reply is followed by one `EVAL`, which caches it again. Every
//! command fails fast instead of queueing while disconnected and is bounded by the call timeout,
//! so a Redis that is down or hung costs a call at most that long. The client reconnects in the
//! background, forever, until the connection is dropped.

use std::time::Duration;

use fred::clients::WithOptions;
use fred::prelude::*;
use fred::types::config::UnresponsiveConfig;
use fred::types::{ClusterHash, ConnectHandle, CustomCommand};
use sha1::{Digest, Sha1};

use crate::error::{redacted, Error};

/// How to reach Redis and how long to wait for it; each limiter fills it from its options
/// (`redis_url`, `timeout_ms`, `connect_timeout_ms`, `probe_interval_ms`), validated there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Redis to connect to.
    pub redis_url: String,
    /// Longest a call waits for Redis.
    pub timeout: Duration,
    /// Longest [`ScriptConnection::connect`] waits for the first connection, and the TCP connect
    /// timeout.
    pub connect_timeout: Duration,
    /// The longest pause between reconnection attempts (at most `u32::MAX` ms).
    pub probe_interval: Duration,
}

impl Settings {
    /// From a limiter's options, durations in ms as they are named there.
    pub fn from_ms(
        redis_url: &str,
        timeout_ms: u64,
        connect_timeout_ms: u64,
        probe_interval_ms: u64,
    ) -> Settings {
        Settings {
            redis_url: redis_url.to_owned(),
            timeout: Duration::from_millis(timeout_ms),
            connect_timeout: Duration::from_millis(connect_timeout_ms),
            probe_interval: Duration::from_millis(probe_interval_ms),
        }
    }
}

/// The connection, with the script it runs.
pub struct ScriptConnection {
    /// The client with the per-call options (timeout, fail fast, one attempt).
    client: WithOptions<Client>,
    script: &'static str,
    sha: String,
    timeout: Duration,
    /// The task that drives the connection and reconnects; aborted on drop.
    connection: Option<ConnectHandle>,
}

impl std::fmt::Debug for ScriptConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptConnection")
            .field("sha", &self.sha)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why Redis did not answer.
#[derive(Debug)]
pub enum Trouble {
    /// No answer within `timeout_ms` (or no connection within `connect_timeout_ms`).
    Timeout(Duration),
    /// The client or the server reported an error.
    Redis(fred::error::Error),
    /// The script answered something it never answers (the caller's parser says so).
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

impl ScriptConnection {
    /// Creates the client for `script` (its SHA-1 computed here, so no round trip loads it) and
    /// starts connecting; waits up to `connect_timeout` for the first connection. Returns why it
    /// is not connected yet, if it is not: the caller starts in fallback, and the client keeps
    /// reconnecting in the background. Fails only if `redis_url` is unusable.
    pub async fn connect(
        settings: &Settings,
        script: &'static str,
    ) -> Result<(ScriptConnection, Option<Trouble>), Error> {
        let url_error = |source| Error::RedisUrl {
            url: redacted(&settings.redis_url),
            source,
        };
        let mut config = Config::from_url(&settings.redis_url).map_err(url_error)?;
        // Run the reconnection policy for the first connection too: Redis may come up later.
        config.fail_fast = false;

        let timeout = settings.timeout;
        let connect_timeout = settings.connect_timeout;
        // Validated by the caller to fit in u32.
        let probe_ms = u32::try_from(settings.probe_interval.as_millis()).unwrap_or(u32::MAX);
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
        let redis = ScriptConnection {
            client: client.with_options(&per_call),
            script,
            sha: format!("{:x}", Sha1::digest(script.as_bytes())),
            timeout,
            connection: Some(connection),
        };
        Ok((redis, trouble))
    }

    /// Runs the script once (`EVALSHA sha numkeys keys… args…`) and returns its reply, an array
    /// of integers, for the caller to parse; at most `timeout` in all. The first key's hash slot
    /// routes the command should Redis ever be a cluster.
    pub async fn run<K: AsRef<str>>(
        &self,
        keys: &[K],
        args: &[Value],
    ) -> Result<Vec<i64>, Trouble> {
        let command_args = |script: &str| -> Vec<Value> {
            let numkeys = i64::try_from(keys.len()).unwrap_or(i64::MAX);
            let mut all: Vec<Value> = Vec::with_capacity(2 + keys.len() + args.len());
            all.extend([script.into(), numkeys.into()]);
            all.extend(keys.iter().map(|key| Value::from(key.as_ref())));
            all.extend(args.iter().cloned());
            all
        };
        // `custom`, not `LuaInterface::evalsha`: fred implements `LuaInterface` for `Client` but
        // not for `WithOptions`, so `evalsha` would silently drop the per-call options (fail
        // fast).
        let command = |name| {
            let hash = keys
                .first()
                .map_or(ClusterHash::Random, |key| key.as_ref().into());
            CustomCommand::new_static(name, hash, false)
        };
        tokio::time::timeout(self.timeout, async {
            match self
                .client
                .custom(command("EVALSHA"), command_args(&self.sha))
                .await
            {
                Err(error) if error.details().starts_with("NOSCRIPT") => {
                    self.client
                        .custom(command("EVAL"), command_args(self.script))
                        .await
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
        })
    }
}

impl Drop for ScriptConnection {
    fn drop(&mut self) {
        // Nothing else uses the client: stop reconnecting to a Redis nobody asks any more.
        if let Some(task) = self.connection.take() {
            task.abort();
        }
    }
}
