//! The one fred connection of the engine's Redis, shared by every user: scripts (rate limits,
//! budgets) and plain reads and writes (the response cache), failing fast.
//!
//! A script call is one `EVALSHA` (one round trip); if Redis lost its script cache (restart,
//! `SCRIPT FLUSH`) the `NOSCRIPT` reply is followed by one `EVAL`, which caches it again. Every
//! command fails fast instead of queueing while disconnected and is bounded by `timeout_ms`, so a
//! Redis that is down or hung costs a call at most that long. The client reconnects in the
//! background, forever, until the last clone of the connection is dropped.

use std::sync::Arc;
use std::time::Duration;

use fred::clients::WithOptions;
use fred::prelude::*;
use fred::types::config::UnresponsiveConfig;
use fred::types::{ClusterHash, ConnectHandle, CustomCommand};
use sha1::{Digest, Sha1};

use crate::error::{redacted, Error};
use crate::options::RedisOptions;

/// A Lua script with its SHA-1 (computed here, so no round trip loads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    source: &'static str,
    sha: String,
}

impl Script {
    /// The script `source` (usually `include_str!`'d).
    pub fn new(source: &'static str) -> Script {
        Script {
            source,
            sha: format!("{:x}", Sha1::digest(source.as_bytes())),
        }
    }
}

/// The connection. Cheap to clone; clones share the client and its reconnection task.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    /// The client with the per-call options (timeout, fail fast, one attempt).
    client: WithOptions<Client>,
    options: RedisOptions,
    /// For logs and messages, password hidden.
    redacted_url: String,
    /// The task that drives the connection and reconnects; aborted on drop.
    connection: Option<ConnectHandle>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("redis_url", &self.inner.redacted_url)
            .field("key_prefix", &self.inner.options.key_prefix)
            .finish_non_exhaustive()
    }
}

/// Why Redis did not answer.
#[derive(Debug)]
pub enum Trouble {
    /// No answer within `timeout_ms` (or no connection within `connect_timeout_ms`).
    Timeout(Duration),
    /// Not connected (at start-up, or while reconnecting).
    NotConnected,
    /// The client or the server reported an error.
    Redis(fred::error::Error),
    /// The script answered something it never answers (the caller's parser says so).
    Reply(Vec<i64>),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Timeout(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Trouble::NotConnected => f.write_str("not connected"),
            Trouble::Redis(error) => write!(f, "{error}"),
            Trouble::Reply(reply) => write!(f, "unexpected script reply {reply:?}"),
        }
    }
}

impl RedisOptions {
    /// Validates the options, creates the client and starts connecting; waits up to
    /// `connect_timeout_ms` for the first connection. Fails only if the options or `redis_url`
    /// are unusable: a Redis that does not answer yet is no error ([`Redis::is_connected`] says
    /// so; callers start in fallback), the client keeps reconnecting in the background.
    pub async fn connect(&self) -> Result<Redis, Error> {
        self.validate()?;
        let url_error = |source| Error::RedisUrl {
            url: redacted(&self.redis_url),
            source,
        };
        let mut config = Config::from_url(&self.redis_url).map_err(url_error)?;
        // Run the reconnection policy for the first connection too: Redis may come up later.
        config.fail_fast = false;

        let timeout = Duration::from_millis(self.timeout_ms);
        let connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        // Validated to fit in u32.
        let probe_ms = u32::try_from(self.probe_interval_ms).unwrap_or(u32::MAX);
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
        let _ = tokio::time::timeout(connect_timeout, async {
            tokio::select! {
                _ = connected.recv() => {
                    // The reconnect event comes just before the client marks itself connected;
                    // wait for that too, or the first call would find it not connected.
                    let _ = client.wait_for_connect().await;
                }
                _ = errors.recv() => {}
            }
        })
        .await;

        let per_call = Options {
            timeout: Some(timeout),
            fail_fast: true,
            max_attempts: Some(1),
            ..Options::default()
        };
        Ok(Redis {
            inner: Arc::new(Inner {
                client: client.with_options(&per_call),
                options: self.clone(),
                redacted_url: redacted(&self.redis_url),
                connection: Some(connection),
            }),
        })
    }
}

impl Redis {
    /// The options it was connected with.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }

    /// `redis_url` with any password hidden, for logs and messages.
    pub fn redacted_url(&self) -> &str {
        &self.inner.redacted_url
    }

    /// Whether the client is connected right now.
    pub fn is_connected(&self) -> bool {
        self.inner.client.is_connected()
    }

    /// Longest one call waits.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.options.timeout_ms)
    }

    /// During an outage, how often one call tries Redis.
    pub fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.inner.options.probe_interval_ms)
    }

    /// The value at `key`, if any; at most `timeout_ms`.
    pub async fn get(&self, key: &str) -> Result<Option<String>, Trouble> {
        if !self.is_connected() {
            return Err(Trouble::NotConnected);
        }
        let client = &self.inner.client;
        self.bounded(client.get::<Option<String>, _>(key)).await
    }

    /// Stores `value` at `key` for `ttl`; at most `timeout_ms`.
    pub async fn set_px(&self, key: &str, value: String, ttl: Duration) -> Result<(), Trouble> {
        if !self.is_connected() {
            return Err(Trouble::NotConnected);
        }
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let client = &self.inner.client;
        let set = client.set::<(), _, _>(key, value, Some(Expiration::PX(ttl_ms)), None, false);
        self.bounded(set).await
    }

    /// A call bounded by the timeout, its errors as [`Trouble`].
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, Trouble> {
        let timeout = self.timeout();
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Trouble::Timeout(timeout))?
            .map_err(|error| {
                if *error.kind() == ErrorKind::Timeout {
                    Trouble::Timeout(timeout)
                } else {
                    Trouble::Redis(error)
                }
            })
    }

    /// Runs the script once (`EVALSHA sha numkeys keys… args…`) and returns its reply, an array
    /// of integers, for the caller to parse; at most `timeout_ms` in all. The first key's hash slot
    /// routes the command should Redis ever be a cluster.
    pub async fn run<K: AsRef<str>>(
        &self,
        script: &Script,
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
        let client = &self.inner.client;
        self.bounded(async {
            match client
                .custom(command("EVALSHA"), command_args(&script.sha))
                .await
            {
                Err(error) if error.details().starts_with("NOSCRIPT") => {
                    client
                        .custom(command("EVAL"), command_args(script.source))
                        .await
                }
                reply => reply,
            }
        })
        .await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Nothing else uses the client: stop reconnecting to a Redis nobody asks any more.
        if let Some(task) = self.connection.take() {
            task.abort();
        }
    }
}
