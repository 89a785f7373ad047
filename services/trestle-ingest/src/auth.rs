//! Who is calling: every route but `/healthz` takes `Authorization: Bearer <credential>`, a JWT
//! (HS256 with the configured secret, RS256/ES256 against the JWKS) or an API key
//! (`tk_<key_id>_<secret>`, read through from the control database with a short cache), and
//! needs its route's scope. A refusal is 401 with `WWW-Authenticate` (no, expired, malformed or
//! badly signed credential; a revoked key) or 403 (a scope missing); nothing is published.
//!
//! **Architecture invariant:** the algorithm is pinned by the key source, never taken from the
//! token: the HS256 secret verifies HS256 only, a JWKS key only its own RS256 or ES256, so
//! `alg: none` and an HS256 token "signed" with a public key are refused. No credential is
//! logged: refusals log their reason, an API key at most its public id.

mod jwt;
mod keys;

use std::collections::BTreeSet;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use trestle_apikeys::Scope;
use uuid::Uuid;

use crate::api::reject;

pub use jwt::mint_hs256;
pub(crate) use jwt::Jwt;
pub(crate) use keys::KeyCache;

/// The `[auth]` section: where credentials are verified.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthOptions {
    /// HS256 secret of locally minted JWTs (`load/demo`); empty (the default): HS256 tokens
    /// are refused. Not for production: use a JWKS.
    pub hs256_secret: String,
    /// The JWKS of RS256/ES256 tokens: a file path or an `http://` URL (re-read every
    /// `jwks_refresh_ms`); empty: none.
    pub jwks: String,
    pub jwks_refresh_ms: u64,
    /// Set: a token's `aud` must be this.
    pub audience: Option<String>,
    /// Set: a token's `iss` must be this.
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp`, in seconds.
    pub leeway_s: u64,
    /// The control database holding `api_keys`; none: API keys are refused.
    pub control: Option<trestle_store::PostgresOptions>,
    /// How long a looked-up key (or its absence) is trusted: a revocation is seen at most
    /// this long after it is in the control database.
    pub api_key_cache_ms: u64,
}

impl std::fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthOptions")
            .field(
                "hs256_secret",
                &(!self.hs256_secret.is_empty()).then_some("<set>"),
            )
            .field("jwks", &self.jwks)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("api_key_cache_ms", &self.api_key_cache_ms)
            .finish_non_exhaustive()
    }
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            hs256_secret: String::new(),
            jwks: String::new(),
            jwks_refresh_ms: 300_000,
            audience: None,
            issuer: None,
            leeway_s: 30,
            control: Some(trestle_store::PostgresOptions {
                url: "postgres://trestle_app:trestle_app@127.0.0.1:15432/trestle_control".into(),
                owner_url: "postgres://trestle_owner:trestle_owner@127.0.0.1:15432/trestle_control"
                    .into(),
                ..Default::default()
            }),
            api_key_cache_ms: 5_000,
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The company it acts for; `None` for a platform token (`admin`).
    pub company: Option<Uuid>,
    pub scopes: BTreeSet<Scope>,
}

impl Caller {
    /// Whether the caller acts for `company`.
    pub(crate) fn is_for(&self, company: &Uuid) -> bool {
        self.company.as_ref() == Some(company)
    }
}

/// Why a credential is refused (401), or could not be checked (503).
#[derive(Debug)]
pub(crate) enum Refusal {
    Missing,
    Malformed(String),
    Expired,
    BadSignature,
    Invalid(String),
    Revoked(String),
    Unavailable(String),
}

impl Refusal {
    fn into_response(self) -> Response {
        let (reason, detail, status) = match self {
            Refusal::Missing => (
                "missing_credential",
                "this route needs `Authorization: Bearer <JWT or API key>`".to_owned(),
                StatusCode::UNAUTHORIZED,
            ),
            Refusal::Malformed(d) => ("malformed_credential", d, StatusCode::UNAUTHORIZED),
            Refusal::Expired => (
                "expired_credential",
                "the token has expired (exp)".to_owned(),
                StatusCode::UNAUTHORIZED,
            ),
            Refusal::BadSignature => (
                "invalid_credential",
                "the token's signature does not verify".to_owned(),
                StatusCode::UNAUTHORIZED,
            ),
            Refusal::Invalid(d) => ("invalid_credential", d, StatusCode::UNAUTHORIZED),
            Refusal::Revoked(key_id) => (
                "revoked_credential",
                format!("API key {key_id} is revoked"),
                StatusCode::UNAUTHORIZED,
            ),
            Refusal::Unavailable(d) => (
                "credentials_unavailable",
                d,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        };
        tracing::debug!(message = "Refused a credential.", reason);
        let challenge = match reason {
            "missing_credential" => r#"Bearer realm="trestle""#.to_owned(),
            "credentials_unavailable" => return reject(status, reason, detail),
            _ => format!(
                r#"Bearer realm="trestle", error="invalid_token", error_description="{}""#,
                detail.replace(['"', '\\'], "'")
            ),
        };
        with_challenge(reject(status, reason, detail), &challenge)
    }
}

fn with_challenge(mut response: Response, challenge: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Verifies credentials; cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    jwt: Jwt,
    keys: Option<KeyCache>,
}

impl Authenticator {
    /// From `[auth]`: loads the JWKS (a failure stops start-up) and opens the control
    /// database's pool lazily.
    pub async fn new(options: &AuthOptions) -> Result<Self, crate::Error> {
        let jwt = Jwt::new(options).await?;
        let keys = match &options.control {
            Some(control) => Some(
                KeyCache::new(control, options.api_key_cache_ms).map_err(crate::Error::Control)?,
            ),
            None => None,
        };
        if options.hs256_secret.is_empty() && options.jwks.is_empty() && keys.is_none() {
            tracing::warn!(message = "No credential source is configured ([auth]): every request but /healthz is refused with 401.");
        }
        Ok(Authenticator { jwt, keys })
    }

    /// Re-reads the JWKS every `jwks_refresh_ms` until dropped (none to read: does nothing).
    pub(crate) fn refresh_jwks(
        &self,
        options: &AuthOptions,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.jwt.refresh(options)
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Refusal> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Refusal::Missing);
        };
        let credential = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                Refusal::Malformed(
                    "the Authorization header must be `Bearer <JWT or API key>`".into(),
                )
            })?;
        if credential.starts_with(trestle_apikeys::PREFIX) {
            match &self.keys {
                Some(keys) => keys.authenticate(credential).await,
                None => Err(Refusal::Invalid(
                    "this API takes no API keys (no [auth] control database)".into(),
                )),
            }
        } else {
            self.jwt.authenticate(credential)
        }
    }
}

/// The state of one route's guard: who verifies, and the scope the route needs.
pub(crate) type Guard = (Authenticator, Scope);

/// Middleware: refuses a request without a valid credential (401) or the route's scope (403);
/// otherwise hands the [`Caller`] to the handler.
pub(crate) async fn require(
    State((auth, scope)): State<Guard>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match auth.authenticate(request.headers()).await {
        Ok(c) => c,
        Err(refusal) => return refusal.into_response(),
    };
    if !caller.scopes.contains(&scope) {
        let response = reject(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this route needs the scope {scope}"),
        );
        let challenge =
            format!(r#"Bearer realm="trestle", error="insufficient_scope", scope="{scope}""#);
        return with_challenge(response, &challenge);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The 403 of a body naming another company than the credential's: nothing is done for it.
pub(crate) fn company_mismatch(caller: &Caller, company: &Uuid) -> Option<Response> {
    (!caller.is_for(company)).then(|| {
        reject(
            StatusCode::FORBIDDEN,
            "company_mismatch",
            format!("the credential does not act for company {company}: company_id must be the credential's company"),
        )
    })
}

/// The scope names of a credential; unknown names are ignored.
fn scopes<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<Scope> {
    names.into_iter().filter_map(|n| n.parse().ok()).collect()
}
