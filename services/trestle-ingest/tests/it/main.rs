//! The HTTP edge: accepted requests are on the log, keyed by company; bad input gets a clear
//! 4xx and puts nothing on the log. Company registration on the admin listener: `companies`;
//! jobs and their documents: `jobs`.

mod auth;
mod companies;
mod jobs;
mod onboarding;

use std::time::Duration;

use serde_json::{json, Value};
use trestle_events::Event;
use trestle_ingest::{IngestConfig, Listeners, Submitted};
use trestle_testkit::TestTopics;
use uuid::Uuid;

/// The base URLs of a running ingest service.
pub(crate) struct Started {
    /// `http://addr` of the upstream apps' listener.
    pub api: String,
    /// `http://addr` of the admin listener.
    pub admin: String,
}

/// Starts ingest on two free loopback ports with `config` (its Kafka options replaced by the
/// test's).
pub(crate) async fn start_with(topics: &TestTopics, config: IngestConfig) -> Started {
    let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let listeners = Listeners {
        api: bind().await,
        admin: bind().await,
    };
    let started = Started {
        api: format!("http://{}", listeners.api.local_addr().unwrap()),
        admin: format!("http://{}", listeners.admin.local_addr().unwrap()),
    };
    let mut config = IngestConfig {
        kafka: topics.options.clone(),
        ..config
    };
    if config.auth.hs256_secret.is_empty() {
        config.auth.hs256_secret = TEST_SECRET.into();
    }
    if config.auth.jwks.is_empty() {
        config.auth.jwks = keys_dir().join("jwks.json").display().to_string();
    }
    tokio::spawn(
        async move { trestle_ingest::serve(listeners, &config, std::future::pending()).await },
    );
    started
}

/// The HS256 secret [`start_with`] configures unless the test sets one.
pub(crate) const TEST_SECRET: &str = "trestle-ingest-tests-hs256-secret";

/// The company scopes (every scope but `admin`).
pub(crate) const COMPANY_SCOPES: &[&str] = &[
    "ai:write",
    "ai:read",
    "jobs:write",
    "jobs:read",
    "usage:read",
    "billing:read",
];

/// `tests/it/keys`: the test RSA and EC keys and their JWKS.
pub(crate) fn keys_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/keys")
}

/// `Bearer <JWT>` of `company` with every company scope (HS256, [`TEST_SECRET`]).
pub(crate) fn bearer(company: Uuid) -> String {
    let token = trestle_ingest::mint_hs256(
        TEST_SECRET,
        Some(company),
        COMPANY_SCOPES,
        Duration::from_secs(600),
    );
    format!("Bearer {token}")
}

/// `Bearer <JWT>` of a platform operator (scope `admin`).
pub(crate) fn admin_bearer() -> String {
    let token = trestle_ingest::mint_hs256(TEST_SECRET, None, &["admin"], Duration::from_secs(600));
    format!("Bearer {token}")
}

/// The bearer of the company a request names (its body's `company_id`, or its query's); of a
/// new company when it names none (a bad body, refused for that before its company).
pub(crate) fn bearer_for(url: &str, body: Option<&str>) -> String {
    let from_body = body
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|v| v["company_id"].as_str().and_then(|c| c.parse().ok()));
    let from_query = url
        .split_once("company_id=")
        .and_then(|(_, c)| c.get(..36))
        .and_then(|c| c.parse().ok());
    bearer(from_body.or(from_query).unwrap_or_else(Uuid::now_v7))
}

/// Ingest accepting every company's requests: these tests are about the request, not the
/// company's onboarding (`onboarding.rs` is).
async fn start(topics: &TestTopics) -> String {
    let config = IngestConfig {
        unprovisioned: trestle_ingest::Unprovisioned::Accept,
        ..IngestConfig::default()
    };
    let started = start_with(topics, config).await;
    format!("{}/v1/ai-requests", started.api)
}

#[tokio::test(flavor = "multi_thread")]
async fn accepted_request_is_on_the_log_keyed_by_its_company() {
    let topics = TestTopics::create("ingest_ok", 3).await.unwrap();
    let url = start(&topics).await;
    let company = Uuid::now_v7();
    let resp = reqwest::Client::new()
        .post(&url)
        .header("authorization", bearer(company))
        .json(
            &json!({"company_id": company, "user_id": "u-7", "kind": "chat",
                      "prompt": "Which subcontractor owns the HVAC punch list?",
                      "ordering_key": "job-12"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let accepted: Submitted = resp.json().await.unwrap();

    let records = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("ai-requests"),
        1,
        Duration::from_secs(30),
    )
    .await;
    let record = &records[0];
    assert_eq!(record.key.as_deref(), Some(company.to_string().as_bytes()));
    let Event::AiRequestSubmitted(event) =
        trestle_events::decode(record.payload.as_deref().unwrap()).unwrap()
    else {
        panic!("expected AiRequestSubmitted")
    };
    assert_eq!(event.request_id, accepted.request_id);
    assert_eq!(event.meta.event_id, accepted.event_id);
    assert_eq!(event.meta.company_id, company);
    assert_eq!(event.ordering_key.as_deref(), Some("job-12"));
    assert_eq!(
        event.meta.event_id.get_version_num(),
        7,
        "event ids are UUIDv7"
    );
    topics.delete().await;
}

/// Each bad body, the status it must get, and a word its reason must contain.
#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_4xx_naming_the_problem_and_nothing_is_published() {
    let topics = TestTopics::create("ingest_bad", 1).await.unwrap();
    let url = start(&topics).await;
    let company = Uuid::now_v7().to_string();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not json", "{\"company_id\": ".into(), 400, "malformed_json"),
        ("unknown field", json!({"company_id": company, "user_id": "u", "kind": "chat", "prompt": "p", "tier": "gold"}).to_string(), 422, "tier"),
        ("missing field", json!({"company_id": company, "kind": "chat", "prompt": "p"}).to_string(), 422, "user_id"),
        ("bad uuid", json!({"company_id": "acme", "user_id": "u", "kind": "chat", "prompt": "p"}).to_string(), 422, "company_id"),
        ("unknown kind", json!({"company_id": company, "user_id": "u", "kind": "horoscope", "prompt": "p"}).to_string(), 422, "kind"),
        ("empty prompt", json!({"company_id": company, "user_id": "u", "kind": "chat", "prompt": "  "}).to_string(), 422, "prompt"),
        ("nil company", json!({"company_id": Uuid::nil(), "user_id": "u", "kind": "chat", "prompt": "p"}).to_string(), 422, "company_id"),
        ("huge prompt", json!({"company_id": company, "user_id": "u", "kind": "chat", "prompt": "x".repeat(40_000)}).to_string(), 422, "prompt"),
        ("too large", json!({"company_id": company, "user_id": "u", "kind": "chat", "prompt": "x".repeat(70_000)}).to_string(), 413, ""),
    ];
    let http = reqwest::Client::new();
    for (name, body, status, mentions) in cases {
        let resp = http
            .post(&url)
            .header("authorization", bearer_for(&url, Some(&body)))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{name}");
        assert_eq!(
            resp.headers()["content-type"],
            trestle_ingest::PROBLEM_JSON,
            "{name}"
        );
        let text = resp.text().await.unwrap();
        assert!(text.contains(mentions), "{name}: {text}");
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{name}: problem+json body, got {text}"));
        assert!(
            v["code"].is_string() && v["detail"].is_string() && v["status"] == status,
            "{name}: {v}"
        );
        assert_eq!(
            v["type"],
            format!("urn:trestle:problem:{}", v["code"].as_str().unwrap())
        );
    }
    let end = trestle_testkit::end_offsets(&topics.options, &topics.topic("ai-requests")).unwrap();
    assert!(
        end.iter().all(|(_, high)| *high == 0),
        "nothing was published: {end:?}"
    );
    topics.delete().await;
}
