//! Invariant 7: the application role sees one tenant's rows at a time, and cannot opt out.

use std::time::Duration;

use trestle_events::Meter;
use trestle_kafka::EventProducer;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_sees_only_its_own_usage_rows() {
    let topics = TestTopics::create("rls", 2).await.unwrap();
    let db = TestDb::shard("rls").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    publish_all(
        &producer,
        &[
            usage(a, Uuid::now_v7(), Meter::GeminiFlashQueries, 1000, 100),
            usage(b, Uuid::now_v7(), Meter::GeminiFlashQueries, 1000, 100),
        ],
    )
    .await;
    let (stop, handle) = spawn(config(&topics, &db));
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, Duration::from_secs(60)).await;

    let mut tx = trestle_store::begin_for_tenant(&pool, a).await.unwrap();
    let seen: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT company_id FROM company_ai_usage")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, vec![a]);
    let records: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT company_id FROM usage_records")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(records, vec![a]);
    // Writing another tenant's row is refused.
    let write = sqlx::query(
        "INSERT INTO company_ai_usage (company_id, period_start, period_type) VALUES ($1, current_date, 'daily')",
    )
    .bind(b)
    .execute(&mut *tx)
    .await;
    assert!(write.is_err(), "a write for another tenant must fail");
    drop(tx);

    // No tenant set: nothing visible.
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM company_ai_usage")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(none, 0);

    // The application role cannot get around it.
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
    let owned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE tableowner = current_user AND schemaname = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(owned, 0, "trestle_app owns no table");
    let forced: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT relname::text, relrowsecurity, relforcerowsecurity FROM pg_class
          WHERE relname IN ('company_ai_usage', 'usage_records') ORDER BY relname",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        forced.iter().all(|(_, on, forced)| *on && *forced),
        "{forced:?}"
    );

    drop(stop);
    handle.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}
