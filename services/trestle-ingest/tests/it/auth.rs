//! Every route but `/healthz` needs a credential and its scope: a route × credential matrix
//! (none, expired, bad signature, `alg: none`, key confusion, another company, a scope missing,
//! a revoked key, valid JWTs of each algorithm and a valid API key), nothing on the log for a
//! refused call, and a revoked key refused once its revocation is in the control database.

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use trestle_apikeys::Scope;
use trestle_events::Event;
use trestle_ingest::{IngestConfig, Unprovisioned};
use trestle_kafka::EventProducer;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::{keys_dir, start_with, Started, COMPANY_SCOPES, TEST_SECRET};

/// A JWT with these claims, signed with `alg` and `key`, naming `kid`.
fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn claims(company: Option<Uuid>, scopes: &[&str], exp_in_s: i64) -> Value {
    let exp = chrono::Utc::now().timestamp() + exp_in_s;
    json!({"company_id": company, "scope": scopes.join(" "), "exp": exp})
}

fn hs256(secret: &[u8], claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(secret),
        None,
        claims,
    )
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(keys_dir().join("rsa.pem")).unwrap()).unwrap()
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&std::fs::read(keys_dir().join("ec.pem")).unwrap()).unwrap()
}

/// An RS256 token of `claims` carrying the signature of other claims.
fn tampered(claims: &Value) -> String {
    let token = sign(Algorithm::RS256, &rsa_key(), Some("rsa-1"), claims);
    let other = sign(
        Algorithm::RS256,
        &rsa_key(),
        Some("rsa-1"),
        &json!({"exp": 1}),
    );
    let (signed, _) = token.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    format!("{signed}.{signature}")
}

/// An unsigned token (`alg: none`) with `claims`.
fn alg_none(claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// One route: method, URL, body, and what a valid credential gets.
struct Route {
    method: &'static str,
    url: String,
    body: Option<Value>,
    scope: Scope,
    valid: u16,
}

fn routes(started: &Started, company: Uuid) -> Vec<Route> {
    let api = &started.api;
    let job = |what: &str| format!("{api}/v1/jobs/tower-a/{what}");
    let route = |method, url, body: Option<Value>, scope, valid| Route {
        method,
        url,
        body,
        scope,
        valid,
    };
    vec![
        route(
            "POST",
            format!("{api}/v1/ai-requests"),
            Some(
                json!({"company_id": company, "user_id": "u-1", "kind": "chat", "prompt": "Open RFIs?"}),
            ),
            Scope::AiWrite,
            202,
        ),
        route(
            "POST",
            format!("{api}/v1/jobs"),
            Some(json!({"company_id": company, "job_id": "tower-a", "name": "Tower A"})),
            Scope::JobsWrite,
            202,
        ),
        route(
            "POST",
            job("complete"),
            Some(json!({"company_id": company})),
            Scope::JobsWrite,
            202,
        ),
        route(
            "POST",
            job("reopen"),
            Some(json!({"company_id": company})),
            Scope::JobsWrite,
            202,
        ),
        route(
            "POST",
            job("notebook"),
            Some(json!({"company_id": company})),
            Scope::JobsWrite,
            202,
        ),
        route(
            "POST",
            job("documents"),
            Some(
                json!({"company_id": company, "title": "RFI 1", "kind": "rfi", "text": "Slab edge?"}),
            ),
            Scope::JobsWrite,
            202,
        ),
        // No [[shards]] in this test: a caller let through is told so (503), another company's
        // job is not found (404), so the two are told apart.
        route(
            "GET",
            job(&format!("documents?company_id={company}")),
            None,
            Scope::JobsRead,
            503,
        ),
        route(
            "POST",
            format!("{}/v1/companies", started.admin),
            Some(json!({"name": "Acme Bau", "country": "DE", "tier": "premium"})),
            Scope::Admin,
            201,
        ),
    ]
}

/// Sends `route` with `authorization` (none: no header); the status, the answer's `error`
/// and its `WWW-Authenticate`.
async fn send(route: &Route, authorization: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = reqwest::Client::new().request(route.method.parse().unwrap(), &route.url);
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    if let Some(body) = &route.body {
        request = request.json(body);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status,
        body["code"].as_str().unwrap_or("").to_owned(),
        challenge,
    )
}

/// Ingest with the test's JWKS, HS256 secret and control database, taking every company.
async fn start(topics: &TestTopics, control: &TestDb, cache_ms: u64) -> Started {
    let mut config = IngestConfig {
        unprovisioned: Unprovisioned::Accept,
        shards: vec![],
        ..IngestConfig::default()
    };
    config.auth.control = Some(control.options.clone());
    config.auth.api_key_cache_ms = cache_ms;
    start_with(topics, config).await
}

/// How many records are on `topic` now.
fn on_the_log(topics: &TestTopics, topic: &str) -> i64 {
    let end = trestle_testkit::end_offsets(&topics.options, &topics.topic(topic)).unwrap();
    end.iter().map(|(_, high)| high).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_bad_credentials_and_serves_valid_ones_and_publishes_only_those() {
    let topics = TestTopics::create("ingest_auth_matrix", 2).await.unwrap();
    let control = TestDb::control("ingest_auth_matrix").await.unwrap();
    let pool = trestle_store::connect(&control.options).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (company, other) = (Uuid::now_v7(), Uuid::now_v7());
    let every: Vec<Scope> = Scope::ALL
        .iter()
        .copied()
        .filter(|s| !s.is_platform())
        .collect();
    let key = trestle_apikeys::issue(&producer, &pool, company, &every, "test")
        .await
        .unwrap();
    let revoked = trestle_apikeys::issue(&producer, &pool, company, &every, "test")
        .await
        .unwrap();
    trestle_apikeys::revoke(&producer, &pool, &revoked.event.key_id, "test", "")
        .await
        .unwrap();
    let started = start(&topics, &control, 5_000).await;
    trestle_testkit::wait_for("ingest to listen", Duration::from_secs(30), || async {
        let health = reqwest::get(format!("{}/healthz", started.api))
            .await
            .ok()?;
        (health.status() == 200).then_some(())
    })
    .await;
    let rsa_public = std::fs::read(keys_dir().join("rsa.pub.pem")).unwrap();

    for route in routes(&started, company) {
        let name = format!("{} {}", route.method, route.url);
        let scopes_but: Vec<&str> = COMPANY_SCOPES
            .iter()
            .copied()
            .filter(|s| *s != route.scope.as_str())
            .collect();
        // The credential acting for the route's company (a platform token on the admin route).
        let acting = |scopes: &[&str]| match route.scope {
            Scope::Admin => claims(None, scopes, 600),
            _ => claims(Some(company), scopes, 600),
        };
        let all: Vec<&str> = COMPANY_SCOPES.iter().copied().chain(["admin"]).collect();
        let refused: Vec<(&str, Option<String>, u16, &str)> = vec![
            ("none", None, 401, "missing_credential"),
            (
                "not bearer",
                Some("Basic dXNlcjpwYXNz".into()),
                401,
                "malformed_credential",
            ),
            (
                "garbage",
                Some("Bearer not-a-token".into()),
                401,
                "malformed_credential",
            ),
            (
                "expired",
                Some(hs256(
                    TEST_SECRET.as_bytes(),
                    &claims(Some(company), &all, -3_600),
                )),
                401,
                "expired_credential",
            ),
            (
                "bad signature",
                Some(hs256(b"another secret", &acting(&all))),
                401,
                "invalid_credential",
            ),
            (
                "tampered RS256",
                Some(tampered(&acting(&all))),
                401,
                "invalid_credential",
            ),
            (
                "alg none",
                Some(alg_none(&acting(&all))),
                401,
                "malformed_credential",
            ),
            (
                "key confusion",
                Some(hs256(&rsa_public, &acting(&all))),
                401,
                "invalid_credential",
            ),
            (
                "unknown API key",
                Some("tk_0123456789abcdef_c2VjcmV0".into()),
                401,
                "invalid_credential",
            ),
            (
                "revoked API key",
                Some(revoked.key.clone()),
                401,
                "revoked_credential",
            ),
            (
                "scope missing",
                Some(hs256(TEST_SECRET.as_bytes(), &acting(&scopes_but))),
                403,
                "insufficient_scope",
            ),
            match route.scope {
                Scope::Admin => (
                    "API key on the admin route",
                    Some(key.key.clone()),
                    403,
                    "insufficient_scope",
                ),
                Scope::JobsRead => (
                    "other company",
                    Some(hs256(
                        TEST_SECRET.as_bytes(),
                        &claims(Some(other), &all, 600),
                    )),
                    404,
                    "job_not_found",
                ),
                _ => (
                    "other company",
                    Some(hs256(
                        TEST_SECRET.as_bytes(),
                        &claims(Some(other), &all, 600),
                    )),
                    403,
                    "company_mismatch",
                ),
            },
        ];
        for (what, credential, status, error) in refused {
            let authorization = credential.map(|c| {
                if c.starts_with("Basic") {
                    c
                } else {
                    format!("Bearer {c}")
                }
            });
            let (got, got_error, challenge) = send(&route, authorization.as_deref()).await;
            assert_eq!((got, got_error.as_str()), (status, error), "{name}, {what}");
            if status == 401 {
                assert!(
                    challenge.is_some_and(|c| c.starts_with("Bearer realm=\"trestle\"")),
                    "{name}, {what}: WWW-Authenticate"
                );
            }
        }
        let mut valid = vec![("HS256", hs256(TEST_SECRET.as_bytes(), &acting(&all)))];
        if route.scope != Scope::Admin {
            valid.push((
                "RS256",
                sign(Algorithm::RS256, &rsa_key(), Some("rsa-1"), &acting(&all)),
            ));
            valid.push((
                "ES256",
                sign(Algorithm::ES256, &ec_key(), Some("ec-1"), &acting(&all)),
            ));
            valid.push(("API key", key.key.clone()));
        }
        for (what, credential) in valid {
            let (got, error, _) = send(&route, Some(&format!("Bearer {credential}"))).await;
            assert_eq!(got, route.valid, "{name}, valid {what}: {error}");
        }
    }

    // Only the valid calls are on the log: 4 credentials × 1 AI route, × 5 job routes, and
    // one registration (besides the test's own key events).
    assert_eq!(on_the_log(&topics, "ai-requests"), 4);
    assert_eq!(on_the_log(&topics, "jobs"), 20);
    let tenants = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("tenants"),
        4,
        Duration::from_secs(30),
    )
    .await;
    let names: Vec<&str> = tenants
        .iter()
        .map(|r| {
            trestle_events::decode(r.payload.as_deref().unwrap())
                .unwrap()
                .name()
        })
        .collect();
    let registered = names.iter().filter(|n| **n == "CompanyRegistered").count();
    assert_eq!((names.len(), registered), (4, 1), "{names:?}");
    topics.delete().await;
    control.drop_db().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_api_key_is_refused_once_its_revocation_is_stored() {
    let topics = TestTopics::create("ingest_auth_revoke", 1).await.unwrap();
    let control = TestDb::control("ingest_auth_revoke").await.unwrap();
    let pool = trestle_store::connect(&control.options).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let company = Uuid::now_v7();
    let key = trestle_apikeys::issue(&producer, &pool, company, &[Scope::AiWrite], "test")
        .await
        .unwrap();
    let started = start(&topics, &control, 1_000).await;
    let route = &routes(&started, company)[0];
    let bearer = format!("Bearer {}", key.key);
    trestle_testkit::wait_for(
        "the key to be accepted",
        Duration::from_secs(30),
        || async { (send(route, Some(&bearer)).await.0 == 202).then_some(()) },
    )
    .await;

    let revoked = trestle_apikeys::revoke(&producer, &pool, &key.event.key_id, "ops", "leaked")
        .await
        .unwrap();
    assert_eq!(
        revoked,
        trestle_apikeys::Revoked::Now {
            company_id: company
        }
    );
    let accepted_before = on_the_log(&topics, "ai-requests");
    let (_, error, _) = trestle_testkit::wait_for(
        "the revocation to be seen",
        Duration::from_secs(30),
        || async {
            let answer = send(route, Some(&bearer)).await;
            (answer.0 == 401).then_some(answer)
        },
    )
    .await;
    assert_eq!(error, "revoked_credential");
    // Calls answered 202 while the cache still held the key are on the log; none after.
    let settled = on_the_log(&topics, "ai-requests");
    assert!(settled >= accepted_before);
    assert_eq!(send(route, Some(&bearer)).await.0, 401);
    assert_eq!(
        on_the_log(&topics, "ai-requests"),
        settled,
        "a refused call publishes nothing"
    );

    // The revocation is an event keyed by the key's company.
    let tenants = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("tenants"),
        2,
        Duration::from_secs(30),
    )
    .await;
    let last = trestle_events::decode(tenants[1].payload.as_deref().unwrap()).unwrap();
    let Event::ApiKeyRevoked(e) = last else {
        panic!("ApiKeyRevoked, got {last:?}")
    };
    assert_eq!(
        (e.meta.company_id, e.key_id.as_str()),
        (company, key.event.key_id.as_str())
    );
    assert_eq!(
        tenants[1].key.as_deref(),
        Some(company.to_string().as_bytes())
    );
    topics.delete().await;
    control.drop_db().await;
}
