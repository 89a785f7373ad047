//! The per-company response cache in Redis: the last answer to the same request, kept for a
//! TTL, served by the ladder (over the rate limit) and when every provider is down.
//!
//! A key is `{key_prefix}cache:{company_id}:{sha1(kind, prompt, job, documents)}`: the company is
//! part of the key, so a cached answer never crosses tenants. A cache that does not answer
//! (Redis down or slow) is a miss, never an error: the request goes on down the ladder. It runs
//! on the engine's one Redis connection (`[redis]`: where, key prefix, timeout).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use trestle_events::AiRequestSubmitted;
use trestle_redis::Redis;

/// Configuration of the response cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheOptions {
    /// Off: no answer is stored or served from cache.
    pub enabled: bool,
    /// How long an answer stays servable. Default one hour.
    pub ttl_ms: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            enabled: true,
            ttl_ms: 3_600_000,
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
    /// `None` when the cache is off.
    redis: Option<Redis>,
    key_prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("enabled", &self.redis.is_some())
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl ResponseCache {
    /// The cache on `redis` (the shared connection), or none at all when `options` turn it off.
    pub fn new(redis: Option<Redis>, options: &CacheOptions) -> Self {
        let redis = redis.filter(|_| options.enabled);
        ResponseCache {
            key_prefix: redis
                .as_ref()
                .map(|r| r.options().key_prefix.clone())
                .unwrap_or_default(),
            redis,
            ttl: Duration::from_millis(options.ttl_ms),
        }
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
            self.key_prefix,
            request.meta.company_id.hyphenated(),
            digest.finalize()
        )
    }

    /// The cached answer to the same request of the same company, if any.
    pub async fn get(&self, request: &AiRequestSubmitted) -> Option<Cached> {
        let redis = self.redis.as_ref()?;
        match redis.get(&self.key(request)).await {
            Ok(Some(json)) => serde_json::from_str(&json).ok(),
            Ok(None) => None,
            Err(trouble) => {
                tracing::debug!(message = "Response cache look-up failed; treating as a miss.", %trouble);
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
        let Some(redis) = self.redis.as_ref() else {
            return;
        };
        let value = serde_json::to_string(&Cached {
            answer: answer.to_owned(),
            cached_at_micros: at.timestamp_micros(),
        })
        .expect("a string and an integer serialize");
        if let Err(trouble) = redis.set_px(&self.key(request), value, self.ttl).await {
            tracing::debug!(message = "Storing in the response cache failed.", %trouble);
        }
    }
}
