//! Rebuilds of the usage projection: a rebuild equals the live tables, a tampered live row is
//! named by company, and a swap under a running projector keeps every total exact.

use std::time::Duration;

use trestle_kafka::EventProducer;
use trestle_projector::{RebuildMode, RebuildOptions, RebuildReport};
use uuid::Uuid;

use crate::support::{
    assert_totals, config, expected, monthly_totals, publish_all, spawn, wait_caught_up, workload,
    Published,
};

fn options(mode: RebuildMode) -> RebuildOptions {
    RebuildOptions {
        mode,
        ..RebuildOptions::default()
    }
}

async fn schemas_like(pool: &sqlx::PgPool, prefix: &str) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1 || '%' ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(s,)| s).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuild_from_offset_zero_equals_the_live_tables() {
    let p = Published::new("rebuild_equal", 4, 40, 4000).await;
    let cfg = config(&p.topics, &p.db);
    let (stop, live) = spawn(cfg.clone());
    wait_caught_up(&p.topics, &p.pool, Duration::from_secs(60)).await;

    let report: RebuildReport =
        trestle_projector::rebuild(&cfg, &options(RebuildMode::CompareOnly))
            .await
            .unwrap();
    assert_eq!(report.records, 4000, "every record projected once");
    assert!(report.equal(), "differences: {:?}", report.differences);
    // Per company: company_ai_usage and usage_records of each of the 40 companies.
    assert_eq!(report.groups_compared, 80);
    assert!(report.swapped.is_none());
    assert!(
        schemas_like(&p.pool, "rebuild_").await.is_empty(),
        "a compare-only rebuild drops its schema"
    );
    assert_totals(&p.pool, &p.want).await;

    drop(stop);
    live.await.unwrap();
    p.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_names_exactly_the_company_whose_live_row_was_tampered_with() {
    let p = Published::new("rebuild_tampered", 4, 30, 3000).await;
    let cfg = config(&p.topics, &p.db);
    let (stop, live) = spawn(cfg.clone());
    wait_caught_up(&p.topics, &p.pool, Duration::from_secs(60)).await;

    let victim = p.companies[7];
    let owner = trestle_store::connect_owner(&p.db.options, 1, None)
        .await
        .unwrap();
    let mut tx = trestle_store::begin_for_tenant(&owner, victim)
        .await
        .unwrap();
    let changed = sqlx::query(
        "UPDATE company_ai_usage SET gemini_flash_queries = gemini_flash_queries + 1
          WHERE company_id = $1 AND period_type = 'monthly'",
    )
    .bind(victim)
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    tx.commit().await.unwrap();
    assert_eq!(changed, 1);

    let report = trestle_projector::rebuild(&cfg, &options(RebuildMode::CompareOnly))
        .await
        .unwrap();
    assert_eq!(
        report.differing_companies(),
        [victim].into_iter().collect(),
        "differences: {:?}",
        report.differences
    );
    assert_eq!(report.differences.len(), 1);
    assert_eq!(report.differences[0].table, "company_ai_usage");

    // A swap refuses when they differ; the tampered row stays live.
    let refused = trestle_projector::rebuild(&cfg, &options(RebuildMode::Swap { force: false }))
        .await
        .unwrap();
    assert!(refused.swapped.is_none());
    let (victim_queries, _) = monthly_totals(&p.pool, victim).await;
    assert_eq!(victim_queries, p.want[&victim].0 + 1);

    // Forced, the rebuilt (correct) rows replace it.
    let forced = trestle_projector::rebuild(&cfg, &options(RebuildMode::Swap { force: true }))
        .await
        .unwrap();
    assert!(forced.swapped.is_some());
    assert_totals(&p.pool, &p.want).await;

    owner.close().await;
    drop(stop);
    live.await.unwrap();
    p.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swap_under_a_running_projector_keeps_every_total_exact() {
    let p = Published::new("rebuild_swap", 4, 50, 5000).await;
    let cfg = config(&p.topics, &p.db);
    let (stop, live) = spawn(cfg.clone());
    wait_caught_up(&p.topics, &p.pool, Duration::from_secs(60)).await;

    // More usage keeps arriving while the rebuild runs and swaps.
    let producer = EventProducer::new(&p.topics.options).unwrap();
    let during = workload(&p.companies, 3000);
    let publishing = {
        let producer = producer.clone();
        let during = during.clone();
        tokio::spawn(async move {
            for chunk in during.chunks(50) {
                publish_all(&producer, chunk).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let pool = p.pool.clone();
    trestle_testkit::wait_for(
        "the live projector to apply usage published during the rebuild",
        Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move {
                let (applied,): (i64,) = sqlx::query_as(
                    "SELECT coalesce(sum(next_offset), 0)::int8 FROM projector_offsets",
                )
                .fetch_one(&pool)
                .await
                .ok()?;
                (applied > 5000).then_some(())
            }
        },
    )
    .await;

    let report = trestle_projector::rebuild(&cfg, &options(RebuildMode::Swap { force: false }))
        .await
        .unwrap();
    assert!(report.equal(), "differences: {:?}", report.differences);
    let swapped = report.swapped.clone().expect("swapped");
    let at_swap: i64 = report.offsets.values().sum();

    // After the swap: more usage, into the new tables, by the projector that never stopped.
    publishing.await.unwrap();
    let after: Vec<_> = workload(&p.companies, 2000);
    publish_all(&producer, &after).await;
    wait_caught_up(&p.topics, &p.pool, Duration::from_secs(60)).await;
    assert!(!live.is_finished(), "the live projector kept running");

    let all: Vec<_> = p
        .events
        .iter()
        .chain(&during)
        .chain(&after)
        .cloned()
        .collect();
    assert_eq!(all.len() as i64, 10_000);
    assert!(
        5000 < at_swap && at_swap < 8000,
        "the swap happened while usage was being published and projected ({at_swap})"
    );
    assert_totals(&p.pool, &expected(&all)).await;

    // The replaced tables stayed as they were at the swap, beside their offsets.
    let owner = trestle_store::connect_owner(&p.db.options, 1, None)
        .await
        .unwrap();
    let replaced: (i64,) = sqlx::query_as(&format!(
        "SELECT sum(next_offset)::int8 FROM \"{}\".projector_offsets",
        swapped.replaced_schema
    ))
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(replaced.0, at_swap);
    // No view (billing_statements reads company_ai_usage) still reads the replaced tables.
    let (stale_views,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
          WHERE d.classid = 'pg_rewrite'::regclass
            AND t.relnamespace = $1::regnamespace",
    )
    .bind(&swapped.replaced_schema)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(stale_views, 0);
    let company: Uuid = p.companies[0];
    let mut tx = trestle_store::begin_for_tenant(&owner, company)
        .await
        .unwrap();
    let (old_records,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM \"{}\".usage_records WHERE company_id = $1",
        swapped.replaced_schema
    ))
    .bind(company)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let (new_records,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM public.usage_records WHERE company_id = $1")
            .bind(company)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(new_records, expected(&all)[&company].0);
    assert!(
        old_records < new_records,
        "the old tables received nothing after the swap"
    );

    owner.close().await;
    drop(stop);
    live.await.unwrap();
    p.cleanup().await;
}
