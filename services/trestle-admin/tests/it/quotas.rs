//! `trestle-admin project quotas`: the engines' live daily quota counters (Redis) next to the
//! pool projection's counts; `--reconcile` raises a counter that lost calls back to the
//! projection and never lowers one.

use chrono::NaiveDate;
use sqlx::Executor;
use trestle_quota::{QuotaOptions, Quotas};
use trestle_redis::RedisOptions;
use trestle_testkit::{TestDb, TestTopics};

use crate::{admin_with_env, text};

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_raises_a_counter_below_the_projection_and_leaves_one_above_it() {
    let topics = TestTopics::create("admin_quotas", 1).await.unwrap();
    let control = TestDb::control("admin_quotas").await.unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let owner = sqlx::PgPool::connect(&control.options.owner_url)
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO cloud_projects (project_id, region) VALUES ('eu-q', 'eu'), ('eu-r', 'eu');
             INSERT INTO cloud_project_requests_daily (project_id, provider, day, requests)
             VALUES ('eu-q', 'gemini', '2026-12-03', 7), ('eu-r', 'gemini', '2026-12-03', 2);",
        )
        .await
        .unwrap();
    let prefix = format!("{}:", trestle_testkit::unique("admin-quotas"));
    let redis = RedisOptions {
        redis_url: trestle_testkit::redis_url(),
        key_prefix: prefix.clone(),
        ..RedisOptions::default()
    };
    let quotas = Quotas::new(redis.connect().await.unwrap(), QuotaOptions::default());
    // eu-q's counter lost calls (3 of the 7 answered); eu-r's counts one more than answered.
    for _ in 0..3 {
        assert!(quotas.take("eu-q", "gemini", day).await.counted());
    }
    for _ in 0..3 {
        assert!(quotas.take("eu-r", "gemini", day).await.counted());
    }
    let env = [
        ("TRESTLE_CONTROL__URL", control.options.url.as_str()),
        (
            "TRESTLE_CONTROL__OWNER_URL",
            control.options.owner_url.as_str(),
        ),
        ("TRESTLE_REDIS__REDIS_URL", redis.redis_url.as_str()),
        ("TRESTLE_REDIS__KEY_PREFIX", prefix.as_str()),
    ];
    let args = ["project", "quotas", "--day", "2026-12-03"];
    let shown = admin_with_env(&topics, &args, &env);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    assert!(
        shown.contains("below the projection: run with --reconcile"),
        "{shown}"
    );
    assert_eq!(
        quotas.used("eu-q", "gemini", day).await.unwrap(),
        3,
        "only shown"
    );

    let reconcile = [&args[..], &["--reconcile"]].concat();
    let out = admin_with_env(&topics, &reconcile, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 counter(s) raised"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(quotas.used("eu-q", "gemini", day).await.unwrap(), 7);
    assert_eq!(
        quotas.used("eu-r", "gemini", day).await.unwrap(),
        3,
        "never lowered"
    );
    owner.close().await;
    control.drop_db().await;
    topics.delete().await;
}
