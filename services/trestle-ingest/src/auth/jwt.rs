//! JWT bearer tokens: claims `company_id`, `exp`, `scope` (space-separated), verified with the
//! HS256 secret or a JWKS key, the algorithm pinned by the key, never by the token.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{scopes, AuthOptions, Caller, Refusal};

/// The claims ingest reads (others are ignored).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The company the token acts for; absent in a platform (`admin`) token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    company_id: Option<Uuid>,
    /// Space-separated scopes.
    #[serde(default)]
    scope: String,
    exp: u64,
}

/// One JWKS key and the one algorithm it verifies.
struct JwksKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The JWT verifier; cheap to clone.
#[derive(Clone)]
pub(crate) struct Jwt {
    hs256: Option<Arc<DecodingKey>>,
    jwks: Arc<RwLock<Arc<Vec<JwksKey>>>>,
    validation: Validation,
}

impl Jwt {
    pub(crate) async fn new(options: &AuthOptions) -> Result<Self, crate::Error> {
        let hs256 = (!options.hs256_secret.is_empty())
            .then(|| Arc::new(DecodingKey::from_secret(options.hs256_secret.as_bytes())));
        let keys = match options.jwks.is_empty() {
            true => Vec::new(),
            false => load_jwks(&options.jwks)
                .await
                .map_err(|detail| crate::Error::Jwks {
                    jwks: options.jwks.clone(),
                    detail,
                })?,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = options.leeway_s;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = options.audience.is_some();
        if let Some(aud) = &options.audience {
            validation.set_audience(&[aud]);
        }
        if let Some(iss) = &options.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(Jwt {
            hs256,
            jwks: Arc::new(RwLock::new(Arc::new(keys))),
            validation,
        })
    }

    pub(crate) fn refresh(&self, options: &AuthOptions) -> Option<tokio::task::JoinHandle<()>> {
        if options.jwks.is_empty() {
            return None;
        }
        let (source, every) = (
            options.jwks.clone(),
            Duration::from_millis(options.jwks_refresh_ms.max(1_000)),
        );
        let jwks = self.jwks.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match load_jwks(&source).await {
                    Ok(keys) => *jwks.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys),
                    Err(detail) => {
                        tracing::warn!(message = "Could not re-read the JWKS; keeping the keys read before.", jwks = %source, %detail)
                    }
                }
            }
        }))
    }

    /// The key of the token's algorithm family and `kid`, with the algorithm it pins.
    fn key_for(&self, header: &Header) -> Result<(Algorithm, Arc<DecodingKey>), Refusal> {
        match header.alg {
            Algorithm::HS256 => self
                .hs256
                .clone()
                .map(|k| (Algorithm::HS256, k))
                .ok_or_else(|| Refusal::Invalid("HS256 tokens are not accepted here".into())),
            Algorithm::RS256 | Algorithm::ES256 => {
                let keys = self.jwks.read().unwrap_or_else(|e| e.into_inner()).clone();
                let mut fitting = keys.iter().filter(|k| {
                    k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid)
                });
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Ok((k.alg, Arc::new(k.key.clone()))),
                    (Some(_), Some(_)) => Err(Refusal::Invalid(
                        "the token names no kid and the JWKS has several keys of its algorithm"
                            .into(),
                    )),
                    (None, _) => Err(Refusal::Invalid(format!(
                        "no JWKS key verifies {:?} tokens with this kid",
                        header.alg
                    ))),
                }
            }
            other => Err(Refusal::Invalid(format!(
                "{other:?} tokens are not accepted (HS256, RS256, ES256 are)"
            ))),
        }
    }

    pub(super) fn authenticate(&self, token: &str) -> Result<Caller, Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            Refusal::Malformed(
                "not a JWT with a supported alg (HS256, RS256, ES256; never none) nor an API key"
                    .into(),
            )
        })?;
        let (alg, key) = self.key_for(&header)?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => Refusal::Expired,
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                ErrorKind::InvalidAlgorithm => {
                    Refusal::Invalid("the token's algorithm does not fit its key".into())
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    Refusal::Invalid(format!("the token has no {c} claim"))
                }
                ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => {
                    Refusal::Invalid("the token is not for this API (aud/iss)".into())
                }
                _ => Refusal::Malformed(format!("the token's claims cannot be read: {error}")),
            })?
            .claims;
        Ok(Caller {
            company: claims.company_id,
            scopes: scopes(claims.scope.split_whitespace()),
        })
    }
}

/// Reads a JWKS (file or `http://` URL); keys of other kinds than RSA and P-256 are skipped.
async fn load_jwks(source: &str) -> Result<Vec<JwksKey>, String> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let response = reqwest::get(source).await.map_err(|e| e.to_string())?;
        let response = response.error_for_status().map_err(|e| e.to_string())?;
        response.text().await.map_err(|e| e.to_string())?
    } else {
        tokio::fs::read_to_string(source)
            .await
            .map_err(|e| e.to_string())?
    };
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("a bad key: {e}"))?;
        keys.push(JwksKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    Ok(keys)
}

/// Mints an HS256 token for local use (`load/`, tests): `company` (none for a platform token),
/// `scopes`, valid for `ttl`.
pub fn mint_hs256(secret: &str, company: Option<Uuid>, scopes: &[&str], ttl: Duration) -> String {
    let exp = (chrono::Utc::now() + ttl).timestamp().max(0) as u64;
    let claims = Claims {
        company_id: company,
        scope: scopes.join(" "),
        exp,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing does not fail")
}
