//! The per-company response cache in Redis: the last answer to the same request, kept for a
//! TTL, served by the ladder (over the rate limit) and when every provider is down.
//!
//! A key is `{key_prefix}cache:{company_id}:{sha1(kind, prompt, job, documents)}`: the company is
//! part of the key, so a cached answer never crosses tenants. A cache that does not answer
//! (Redis down or slow) is a miss, never an error: the request goes on down the ladder.

use std::time::Duration;

use fred::prelude::*;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use trestle_events::AiRequestSubmitted;

/// Configuration of the response cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheOptions {
    /// Off: no answer is stored or served from cache.
    pub enabled: bool,
    /// Redis of the region. Default the local stack's.
    pub redis_url: String,
    /// Prepended to every key (tests use a unique one each). Default `trestle:`.
    pub key_prefix: String,
    /// How long an answer stays servable. Default one hour.
    pub ttl_ms: u64,
    /// Longest a look-up or store waits for Redis. Default 50.
    pub timeout_ms: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            enabled: true,
            redis_url: "redis://127.0.0.1:16379".into(),
            key_prefix: "trestle:".into(),
            ttl_ms: 3_600_000,
            timeout_ms: 50,
        }
    }
}

/// A cached answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    pub answer: String,
    /// When the answer was produced, µs since the epoch.
    pub cached_at_micros: i64,
}

/// Handle on the cache; cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    client: Option<Client>,
    options: CacheOptions,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("enabled", &self.client.is_some())
            .field("key_prefix", &self.options.key_prefix)
            .finish()
    }
}

impl ResponseCache {
    /// Connects in the background (a Redis that is down at start is retried, not fatal).
    pub fn connect(options: CacheOptions) -> Result<Self, fred::error::Error> {
        if !options.enabled {
            return Ok(ResponseCache {
                client: None,
                options,
            });
        }
        let config = Config::from_url(&options.redis_url)?;
        let timeout = Duration::from_millis(options.timeout_ms);
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(1);
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = timeout)
            .set_policy(ReconnectPolicy::new_exponential(0, 10, 1000, 2))
            .build()?;
        client.connect();
        Ok(ResponseCache {
            client: Some(client),
            options,
        })
    }

    /// The cache key of `request`: company plus a digest of what was asked.
    pub fn key(&self, request: &AiRequestSubmitted) -> String {
        let mut digest = Sha1::new();
        digest.update(request.kind.as_str());
        digest.update([0]);
        digest.update(&request.prompt);
        digest.update([0]);
        digest.update(request.job_id.as_deref().unwrap_or(""));
        for document in &request.document_ids {
            digest.update([0]);
            digest.update(document);
        }
        format!(
            "{}cache:{}:{:x}",
            self.options.key_prefix,
            request.meta.company_id.hyphenated(),
            digest.finalize()
        )
    }

    /// The cached answer to the same request of the same company, if any.
    pub async fn get(&self, request: &AiRequestSubmitted) -> Option<Cached> {
        let client = self.client.as_ref()?;
        if !client.is_connected() {
            return None;
        }
        let fetched: Result<Option<String>, _> = client
            .with_options(&self.call_options())
            .get(self.key(request))
            .await;
        match fetched {
            Ok(Some(json)) => serde_json::from_str(&json).ok(),
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(message = "Response cache look-up failed; treating as a miss.", %error);
                None
            }
        }
    }

    /// Stores `answer` for the same request of the same company, for the TTL.
    pub async fn put(
        &self,
        request: &AiRequestSubmitted,
        answer: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let Some(client) = self.client.as_ref() else {
            return;
        };
        if !client.is_connected() {
            return;
        }
        let value = serde_json::to_string(&Cached {
            answer: answer.to_owned(),
            cached_at_micros: at.timestamp_micros(),
        })
        .expect("a string and an integer serialize");
        let ttl = Expiration::PX(self.options.ttl_ms as i64);
        let stored: Result<(), _> = client
            .with_options(&self.call_options())
            .set(self.key(request), value, Some(ttl), None, false)
            .await;
        if let Err(error) = stored {
            tracing::debug!(message = "Storing in the response cache failed.", %error);
        }
    }

    fn call_options(&self) -> Options {
        Options {
            timeout: Some(Duration::from_millis(self.options.timeout_ms)),
            fail_fast: true,
            max_attempts: Some(1),
            ..Options::default()
        }
    }
}
