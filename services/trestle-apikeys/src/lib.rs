//! API keys of server-to-server callers: the key format, issuing and revoking keys as events
//! (`ApiKeyIssued`, `ApiKeyRevoked` on `tenants`), the control database's `api_keys` table
//! those events fold into ([`apply`]), and checking a presented key ([`StoredKey::accepts`]).
//!
//! A key reads `tk_<key_id>_<secret>`: `key_id` is public (16 hex digits, how a presented key is
//! looked up, safe to log), `secret` is 32 random bytes from the OS in unpadded base64url. Only
//! the secret's SHA-256 is on the log and in the table; a presented secret is hashed and
//! compared in constant time. A salted slow hash buys nothing for a 256-bit random secret.
//!
//! **Architecture invariant:** the secret of a key exists only in [`NewKey::key`], shown once
//! by `trestle-admin keys issue`; no event, row or log line holds it.

mod scope;

pub use scope::{Scope, UnknownScope};

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use trestle_events::{ApiKeyIssued, ApiKeyRevoked, Event, Meta};
use trestle_kafka::EventProducer;
use uuid::Uuid;

/// What every key starts with (so a bearer credential is told from a JWT, and a leaked key is
/// found by secret scanners).
pub const PREFIX: &str = "tk_";

/// Why a key could not be issued, revoked, stored or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("an API key needs at least one scope")]
    NoScopes,
    #[error(
        "scope {0} is a platform scope: API keys are a company's, and carry company scopes only"
    )]
    PlatformScope(Scope),
    #[error("publishing {event} for company {company}: {source}")]
    Publish {
        event: &'static str,
        company: Uuid,
        #[source]
        source: Box<trestle_kafka::Error>,
    },
    #[error("{what} in the control database's api_keys: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("no API key {key_id} in the control database")]
    UnknownKey { key_id: String },
}

/// A key as presented: its public id and its secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub key_id: &'a str,
    secret: &'a str,
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Splits `tk_<key_id>_<secret>`; `None` when `key` is not of that shape.
pub fn parse(key: &str) -> Option<Presented<'_>> {
    let (key_id, secret) = key.strip_prefix(PREFIX)?.split_once('_')?;
    let id_ok = key_id.len() == 16 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && !secret.is_empty()).then_some(Presented { key_id, secret })
}

/// Lowercase hex SHA-256 of a secret: what the log and the table hold.
pub fn secret_sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A newly made key: the one place its secret is, and the event that records it.
pub struct NewKey {
    /// The whole key, `tk_<key_id>_<secret>`, to be shown once.
    pub key: String,
    pub event: ApiKeyIssued,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.event.key_id)
            .finish_non_exhaustive()
    }
}

/// Makes a key for `company` with `scopes` (company scopes only, at least one).
pub fn new_key(company: Uuid, scopes: &[Scope], issued_by: &str) -> Result<NewKey, Error> {
    if scopes.is_empty() {
        return Err(Error::NoScopes);
    }
    if let Some(&platform) = scopes.iter().find(|s| s.is_platform()) {
        return Err(Error::PlatformScope(platform));
    }
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).expect("the OS random source");
    getrandom::fill(&mut secret).expect("the OS random source");
    let key_id = hex::encode(id);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let mut names: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    let event = ApiKeyIssued {
        meta: Meta::root(company),
        key_id: key_id.clone(),
        scopes: names,
        secret_sha256: secret_sha256(&secret),
        issued_by: issued_by.to_owned(),
    };
    Ok(NewKey {
        key: format!("{PREFIX}{key_id}_{secret}"),
        event,
    })
}

/// A key as the control database has it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredKey {
    pub key_id: String,
    pub company_id: Uuid,
    /// Scope names as issued (unknown ones are ignored by the API).
    pub scopes: Vec<String>,
    secret_sha256: String,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl StoredKey {
    /// Whether `presented` is this key: same id, its secret's hash equal in constant time. A
    /// revoked key still matches (the caller says "revoked", not "wrong key").
    pub fn accepts(&self, presented: &Presented<'_>) -> bool {
        let hash = secret_sha256(presented.secret);
        presented.key_id == self.key_id
            && bool::from(hash.as_bytes().ct_eq(self.secret_sha256.as_bytes()))
    }
}

/// The key with `key_id`, revoked or not; `None` when there is none.
pub async fn lookup(pool: &PgPool, key_id: &str) -> Result<Option<StoredKey>, Error> {
    sqlx::query_as(
        "SELECT key_id, company_id, scopes, secret_sha256, issued_at, revoked_at
           FROM api_keys WHERE key_id = $1",
    )
    .bind(key_id)
    .fetch_optional(pool)
    .await
    .map_err(|source| Error::Query {
        what: "looking a key up",
        source,
    })
}

/// Folds one `tenants` event into `api_keys` (others change nothing). Idempotent: a key is
/// inserted once, revoked once (the first revocation's time stays). Returns whether it changed
/// a row.
pub async fn apply(pool: &PgPool, event: &Event) -> Result<bool, Error> {
    let done = match event {
        Event::ApiKeyIssued(e) => sqlx::query(
            "INSERT INTO api_keys
               (key_id, company_id, scopes, secret_sha256, issued_at, issued_by, issued_event)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(&e.key_id)
        .bind(e.meta.company_id)
        .bind(&e.scopes)
        .bind(&e.secret_sha256)
        .bind(e.meta.occurred_at)
        .bind(&e.issued_by)
        .bind(e.meta.event_id)
        .execute(pool)
        .await
        .map_err(|source| Error::Query {
            what: "storing an issued key",
            source,
        })?,
        Event::ApiKeyRevoked(e) => sqlx::query(
            "UPDATE api_keys SET revoked_at = $3, revoked_event = $4
              WHERE key_id = $1 AND company_id = $2 AND revoked_at IS NULL",
        )
        .bind(&e.key_id)
        .bind(e.meta.company_id)
        .bind(e.meta.occurred_at)
        .bind(e.meta.event_id)
        .execute(pool)
        .await
        .map_err(|source| Error::Query {
            what: "storing a revocation",
            source,
        })?,
        _ => return Ok(false),
    };
    Ok(done.rows_affected() > 0)
}

/// Publishes `event` (the log first: it is the truth) and folds it into `api_keys`.
async fn record(producer: &EventProducer, pool: &PgPool, event: Event) -> Result<(), Error> {
    producer
        .publish(&event)
        .await
        .map_err(|source| Error::Publish {
            event: event.name(),
            company: event.meta().company_id,
            source: Box::new(source),
        })?;
    apply(pool, &event).await?;
    Ok(())
}

/// Issues a key: `ApiKeyIssued` on the log, then its row. The returned key's secret is shown
/// nowhere else.
pub async fn issue(
    producer: &EventProducer,
    pool: &PgPool,
    company: Uuid,
    scopes: &[Scope],
    issued_by: &str,
) -> Result<NewKey, Error> {
    let new = new_key(company, scopes, issued_by)?;
    record(producer, pool, Event::ApiKeyIssued(new.event.clone())).await?;
    Ok(new)
}

/// What [`revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// `ApiKeyRevoked` is on the log and the row says so.
    Now { company_id: Uuid },
    /// It was revoked already, at that time: nothing published.
    Already { company_id: Uuid, at: DateTime<Utc> },
}

/// Revokes the key `key_id`: `ApiKeyRevoked` (keyed by the key's company) on the log, then the
/// row. A revoked key stays revoked; revoking it again publishes nothing.
pub async fn revoke(
    producer: &EventProducer,
    pool: &PgPool,
    key_id: &str,
    revoked_by: &str,
    reason: &str,
) -> Result<Revoked, Error> {
    let key = lookup(pool, key_id)
        .await?
        .ok_or_else(|| Error::UnknownKey {
            key_id: key_id.to_owned(),
        })?;
    if let Some(at) = key.revoked_at {
        return Ok(Revoked::Already {
            company_id: key.company_id,
            at,
        });
    }
    let event = Event::ApiKeyRevoked(ApiKeyRevoked {
        meta: Meta::root(key.company_id),
        key_id: key.key_id,
        revoked_by: revoked_by.to_owned(),
        reason: reason.to_owned(),
    });
    record(producer, pool, event).await?;
    Ok(Revoked::Now {
        company_id: key.company_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_parses_back_and_only_its_own_secret_is_accepted() {
        let company = Uuid::now_v7();
        let new = new_key(company, &[Scope::AiWrite, Scope::JobsRead], "ops").unwrap();
        let presented = parse(&new.key).expect("a key of the documented shape");
        assert_eq!(presented.key_id, new.event.key_id);
        assert!(!new.event.secret_sha256.contains(presented.secret));
        assert_eq!(new.event.scopes, ["ai:write", "jobs:read"]);
        let stored = StoredKey {
            key_id: new.event.key_id.clone(),
            company_id: company,
            scopes: new.event.scopes.clone(),
            secret_sha256: new.event.secret_sha256.clone(),
            issued_at: Utc::now(),
            revoked_at: None,
        };
        assert!(stored.accepts(&presented));
        let mut wrong = new.key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        assert!(!stored.accepts(&parse(&wrong).unwrap()));
        assert!(
            !format!("{new:?}").contains(presented.secret),
            "Debug hides it"
        );
    }

    #[test]
    fn keys_carry_company_scopes_only() {
        let company = Uuid::now_v7();
        assert!(matches!(new_key(company, &[], ""), Err(Error::NoScopes)));
        assert!(matches!(
            new_key(company, &[Scope::AiRead, Scope::Admin], ""),
            Err(Error::PlatformScope(Scope::Admin))
        ));
    }

    #[test]
    fn only_keys_of_the_documented_shape_parse() {
        for bad in [
            "",
            "tk_",
            "tk_0123456789abcdef",
            "tk_0123456789abcdef_",
            "xx_0123456789abcdef_s",
            "tk_0123_s",
            "tk_0123456789abcdeg_s",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert!(parse("tk_0123456789abcdef_s_with_underscores").is_some());
    }
}
