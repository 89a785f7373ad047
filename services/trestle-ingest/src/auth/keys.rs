//! API keys, read through from the control database's `api_keys` with a short cache: a key
//! (or its absence) is trusted for `api_key_cache_ms`, so a revocation is seen within that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use trestle_apikeys::StoredKey;

use super::{scopes, Caller, Refusal};

/// Most keys kept; beyond, the cache starts over (bogus ids cannot grow it without limit).
const MAX_ENTRIES: usize = 100_000;

/// Each key id read, when, and what was found.
type Entries = HashMap<String, (Instant, Option<StoredKey>)>;

/// The key cache; cheap to clone.
#[derive(Clone)]
pub(crate) struct KeyCache {
    pool: PgPool,
    ttl: Duration,
    entries: Arc<Mutex<Entries>>,
}

impl KeyCache {
    pub(crate) fn new(
        control: &trestle_store::PostgresOptions,
        ttl_ms: u64,
    ) -> Result<Self, trestle_store::Error> {
        let pool = trestle_store::connect_lazy(control)?;
        Ok(KeyCache {
            pool,
            ttl: Duration::from_millis(ttl_ms),
            entries: Default::default(),
        })
    }

    /// The key `key_id`, from the cache while fresh.
    async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, trestle_apikeys::Error> {
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, key)) = entries.get(key_id) {
                if at.elapsed() < self.ttl {
                    return Ok(key.clone());
                }
            }
        }
        let key = trestle_apikeys::lookup(&self.pool, key_id).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key_id.to_owned(), (Instant::now(), key.clone()));
        Ok(key)
    }

    pub(super) async fn authenticate(&self, credential: &str) -> Result<Caller, Refusal> {
        let presented = trestle_apikeys::parse(credential).ok_or_else(|| {
            Refusal::Malformed("an API key reads tk_<16 hex digits>_<secret>".into())
        })?;
        let key = self.get(presented.key_id).await.map_err(|error| {
            tracing::warn!(message = "Could not look an API key up; answering 503.", key_id = presented.key_id, %error);
            Refusal::Unavailable("the API keys could not be read, retry later".into())
        })?;
        let key = key
            .filter(|k| k.accepts(&presented))
            .ok_or_else(|| Refusal::Invalid("unknown API key".into()))?;
        if key.revoked_at.is_some() {
            return Err(Refusal::Revoked(key.key_id));
        }
        Ok(Caller {
            company: Some(key.company_id),
            scopes: scopes(key.scopes.iter().map(String::as_str))
                .into_iter()
                .filter(|s| !s.is_platform())
                .collect(),
        })
    }
}
