//! The load generator's credentials: HS256 JWTs it mints with the secret ingest is started
//! with (`[auth] hs256_secret`; `load/demo` makes one per run and hands it to both).

use std::time::Duration;

use uuid::Uuid;

/// How long a minted token is valid: longer than any run.
const TTL: Duration = Duration::from_secs(6 * 3600);

/// Mints `Authorization` values; the secret comes from `TRESTLE_LOAD_HS256_SECRET`.
#[derive(Clone)]
pub struct Tokens {
    secret: String,
}

impl Tokens {
    /// With `secret` (tests).
    pub fn new(secret: impl Into<String>) -> Self {
        Tokens {
            secret: secret.into(),
        }
    }

    /// From `TRESTLE_LOAD_HS256_SECRET` (fails when it is unset or empty: ingest would refuse
    /// every call with 401).
    pub fn from_env() -> anyhow::Result<Self> {
        let secret = std::env::var("TRESTLE_LOAD_HS256_SECRET").unwrap_or_default();
        anyhow::ensure!(
            !secret.is_empty(),
            "TRESTLE_LOAD_HS256_SECRET is not set: give it the HS256 secret ingest runs with ([auth] hs256_secret; load/demo sets both)"
        );
        Ok(Tokens { secret })
    }

    /// `Bearer <JWT>` acting for `company` with the scopes the load uses.
    pub fn company(&self, company: Uuid) -> String {
        let scopes = ["ai:write", "ai:read", "jobs:write", "jobs:read"];
        self.mint(serde_json::json!({"company_id": company, "scope": scopes.join(" ")}))
    }

    /// `Bearer <JWT>` of a platform operator (`admin`: company registration).
    pub fn admin(&self) -> String {
        self.mint(serde_json::json!({"scope": "admin"}))
    }

    /// `Bearer <JWT>` of `claims` with an `exp` [`TTL`] from now, HS256 with the secret.
    fn mint(&self, mut claims: serde_json::Value) -> String {
        claims["exp"] = (chrono::Utc::now().timestamp() + TTL.as_secs() as i64).into();
        let key = jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes());
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        let token =
            jsonwebtoken::encode(&header, &claims, &key).expect("HS256 signing does not fail");
        format!("Bearer {token}")
    }
}
