//! `trestle-admin keys issue|revoke`: a registered company's key is printed once, recorded as
//! `ApiKeyIssued` (the secret's SHA-256 only) keyed by the company and stored in `api_keys`;
//! revoking it publishes `ApiKeyRevoked` and marks the row; an unregistered company gets none.

use std::time::Duration;

use sqlx::Executor;
use trestle_events::Event;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::{admin_with_env, text};

#[tokio::test(flavor = "multi_thread")]
async fn an_issued_key_is_printed_once_stored_as_its_hash_and_revoked_by_its_id() {
    let topics = TestTopics::create("admin_keys", 1).await.unwrap();
    let control = TestDb::control("admin_keys").await.unwrap();
    let (company, stranger) = (Uuid::now_v7(), Uuid::now_v7());
    let owner = sqlx::PgPool::connect(&control.options.owner_url)
        .await
        .unwrap();
    owner
        .execute(format!("INSERT INTO tenant_routing (company_id, registered_region) VALUES ('{company}', 'eu')").as_str())
        .await
        .unwrap();
    let env = [
        ("TRESTLE_CONTROL__URL", control.options.url.as_str()),
        (
            "TRESTLE_CONTROL__OWNER_URL",
            control.options.owner_url.as_str(),
        ),
    ];
    let run = |args: &[&str]| admin_with_env(&topics, args, &env);

    let refused = run(&[
        "keys",
        "issue",
        &stranger.to_string(),
        "--scopes",
        "ai:write",
    ]);
    assert!(
        !refused.status.success(),
        "an unregistered company gets no key"
    );
    assert!(
        text(&refused.stderr).contains("not registered"),
        "{}",
        text(&refused.stderr)
    );
    let admin_scope = run(&[
        "keys",
        "issue",
        &company.to_string(),
        "--scopes",
        "ai:write,admin",
    ]);
    assert!(!admin_scope.status.success(), "a key never carries admin");

    let issued = run(&[
        "keys",
        "issue",
        &company.to_string(),
        "--scopes",
        "ai:write,jobs:read",
        "--by",
        "ops",
    ]);
    assert!(issued.status.success(), "{}", text(&issued.stderr));
    let key = text(&issued.stdout).trim().to_owned();
    let presented = trestle_apikeys::parse(&key).expect("the key on stdout");
    let pool = trestle_store::connect(&control.options).await.unwrap();
    let stored = trestle_apikeys::lookup(&pool, presented.key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.accepts(&presented) && stored.revoked_at.is_none());
    assert_eq!(
        (stored.company_id, stored.scopes.clone()),
        (company, vec!["ai:write".into(), "jobs:read".into()])
    );

    let revoked = run(&["keys", "revoke", presented.key_id, "--reason", "leaked"]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let stored = trestle_apikeys::lookup(&pool, presented.key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_some());

    let records = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("tenants"),
        2,
        Duration::from_secs(30),
    )
    .await;
    let events: Vec<Event> = records
        .iter()
        .map(|r| trestle_events::decode(r.payload.as_deref().unwrap()).unwrap())
        .collect();
    let [Event::ApiKeyIssued(i), Event::ApiKeyRevoked(r)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!((i.meta.company_id, r.meta.company_id), (company, company));
    assert_eq!(
        records[0].key.as_deref(),
        Some(company.to_string().as_bytes())
    );
    // tk_<16 hex digits>_<secret>; the secret may hold `_` itself.
    let secret = &key["tk_".len() + 17..];
    assert!(
        !format!("{events:?}").contains(secret),
        "the secret is on no event"
    );
    assert_eq!(i.secret_sha256, trestle_apikeys::secret_sha256(secret));
    topics.delete().await;
    control.drop_db().await;
}
