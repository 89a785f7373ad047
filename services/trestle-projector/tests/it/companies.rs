//! The companies projection: each company's record (with `ai_config` from its tier's defaults)
//! in the shard its latest provisioning names and nowhere else — whichever of registration and
//! provisioning comes first, and after a move to another shard, which a re-published older
//! provisioning does not undo; row-level security on its tables; and a rebuild equals it.

use std::time::Duration;

use trestle_events::{Region, Tier};
use trestle_kafka::EventProducer;
use trestle_projector::UsageShardConfig;
use trestle_projector::{ProjectionKind, ProjectorConfig, RebuildMode, RebuildOptions};
use trestle_query::companies::{self, Company};
use trestle_testkit::fixtures::at;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::routing::{provisioned, publish_in_order, registered, wait_caught_up};
use crate::support::spawn;

fn companies_config(topics: &TestTopics, db: &TestDb, index: i32) -> ProjectorConfig {
    ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group(&format!("companies-{index}")),
        projection: ProjectionKind::Companies,
        batch_max_wait_ms: 20,
        shard: Some(UsageShardConfig {
            index,
            count: 2,
            control: Default::default(),
        }),
        ..ProjectorConfig::default()
    }
}

/// Waits until the shard database `pool` holds the company's record (`present`) or does not;
/// returns the record then.
async fn wait_record(pool: &sqlx::PgPool, company: Uuid, present: bool) -> Option<Company> {
    trestle_testkit::wait_for(
        &format!(
            "company {company} to be {}",
            if present { "present" } else { "gone" }
        ),
        Duration::from_secs(60),
        || async move {
            let row = companies::get(pool, company).await.ok()?;
            (row.is_some() == present).then_some(row)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_record_lives_only_in_the_shard_of_its_latest_provisioning() {
    let topics = TestTopics::create("companies_shard", 2).await.unwrap();
    let dbs = [
        TestDb::shard("companies_0").await.unwrap(),
        TestDb::shard("companies_1").await.unwrap(),
    ];
    let producer = EventProducer::new(&topics.options).unwrap();
    let (a, b, moved, unprovisioned) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    // a: registered then provisioned to shard 0; b: provisioned to 1 before its registration
    // is on the log; `moved`: on shard 0 first; `unprovisioned`: registered only.
    publish_in_order(
        &producer,
        &[
            registered(a, "Acme", Tier::Professional, Region::Eu),
            provisioned(a, 0, "eu-1", Region::Eu),
            provisioned(b, 1, "us-2", Region::Us),
            registered(b, "Bauer", Tier::Enterprise, Region::Us),
            registered(moved, "Mover", Tier::Starter, Region::Apac),
            registered(unprovisioned, "Later", Tier::Premium, Region::Eu),
        ],
    )
    .await;
    let first_home = provisioned(moved, 0, "apac-1", Region::Apac);
    publish_in_order(&producer, std::slice::from_ref(&first_home)).await;

    let mut running = Vec::new();
    let mut pools = Vec::new();
    for (index, db) in dbs.iter().enumerate() {
        running.push(spawn(companies_config(&topics, db, index as i32)));
        pools.push(trestle_store::connect(&db.options).await.unwrap());
    }
    let record_a = wait_record(&pools[0], a, true).await.expect("a in shard 0");
    let record_b = wait_record(&pools[1], b, true).await.expect("b in shard 1");
    wait_record(&pools[0], moved, true).await;

    // The move: a newer provisioning names shard 1, then a re-published copy of the older one.
    let move_to_1 = at(
        provisioned(moved, 1, "apac-2", Region::Apac),
        chrono::Utc::now() + chrono::Duration::seconds(1),
    );
    publish_in_order(&producer, &[move_to_1, first_home]).await;
    for pool in &pools {
        wait_caught_up(&topics, pool, &["tenants"]).await;
    }

    assert_eq!(
        (
            record_a.name.as_str(),
            record_a.tier.as_str(),
            record_a.region.as_str(),
            record_a.country.as_str(),
            record_a.isolation.as_str(),
            record_a.cloud_project_id.as_str(),
            record_a.database_shard,
        ),
        ("Acme", "professional", "eu", "DE", "shared", "eu-1", 0)
    );
    let config = &record_a.ai_config;
    assert_eq!(config["requests_per_minute"], 30);
    assert_eq!(config["max_in_flight"], 4);
    assert_eq!(config["monthly_price_micro_usd"], 199_000_000);
    assert_eq!(config["included_queries_per_month"], 12_000);
    assert_eq!(config["included_cost_micro_usd_per_month"], 50_000_000);
    // b's registration came after its provisioning: the record is the same as if in order.
    assert_eq!(
        (
            record_b.name.as_str(),
            record_b.tier.as_str(),
            record_b.database_shard
        ),
        ("Bauer", "enterprise", 1)
    );
    assert_eq!(record_b.ai_config["requests_per_minute"], 120);
    // Each company in exactly one shard: the moved one in its new shard only, the stale
    // provisioning notwithstanding; the unprovisioned one nowhere.
    let moved_record = companies::get(&pools[1], moved)
        .await
        .unwrap()
        .expect("moved to 1");
    assert_eq!(
        (
            moved_record.database_shard,
            moved_record.cloud_project_id.as_str()
        ),
        (1, "apac-2")
    );
    assert_eq!(moved_record.ai_config["requests_per_minute"], 10);
    assert_eq!(companies::get(&pools[0], moved).await.unwrap(), None);
    assert_eq!(companies::get(&pools[1], a).await.unwrap(), None);
    assert_eq!(companies::get(&pools[0], b).await.unwrap(), None);
    for pool in &pools {
        assert_eq!(companies::get(pool, unprovisioned).await.unwrap(), None);
    }

    // Row-level security: no tenant set, no row; enabled and forced on both tables.
    for pool in &pools {
        let visible: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM companies) + (SELECT count(*) FROM company_tenancy)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(visible, 0);
        let forced: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT relname::text, relrowsecurity, relforcerowsecurity FROM pg_class
              WHERE relname IN ('companies', 'company_tenancy') ORDER BY relname",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(forced.len(), 2);
        assert!(
            forced.iter().all(|(_, on, forced)| *on && *forced),
            "{forced:?}"
        );
    }

    // A rebuild of shard 1's projection from offset 0 equals the live tables.
    let report = trestle_projector::rebuild(
        &companies_config(&topics, &dbs[1], 1),
        &RebuildOptions {
            mode: RebuildMode::CompareOnly,
            progress: false,
            ..RebuildOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(report.equal(), "differences: {:?}", report.differences);
    // companies and company_tenancy of each of the four companies.
    assert_eq!(report.groups_compared, 8);

    for (stop, handle) in running {
        drop(stop);
        handle.await.unwrap();
    }
    for pool in pools {
        pool.close().await;
    }
    for db in dbs {
        db.drop_db().await;
    }
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_names_the_company_whose_record_was_tampered_with() {
    let topics = TestTopics::create("companies_rebuild", 2).await.unwrap();
    let db = TestDb::shard("companies_rebuild").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let mut events = Vec::new();
    for id in &ids {
        events.push(registered(*id, "Co", Tier::Premium, Region::Us));
        events.push(provisioned(*id, 0, "us-1", Region::Us));
    }
    publish_in_order(&producer, &events).await;
    let config = companies_config(&topics, &db, 0);
    let (stop, live) = spawn(config.clone());
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, &["tenants"]).await;
    let victim = ids[3];
    assert!(companies::get(&pool, victim).await.unwrap().is_some());

    let owner = trestle_store::connect_owner(&db.options, 1, None)
        .await
        .unwrap();
    let mut tx = trestle_store::begin_for_tenant(&owner, victim)
        .await
        .unwrap();
    sqlx::query("UPDATE companies SET ai_config = '{}' WHERE company_id = $1")
        .bind(victim)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let report = trestle_projector::rebuild(
        &config,
        &RebuildOptions {
            mode: RebuildMode::Swap { force: true },
            progress: false,
            ..RebuildOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        report.differing_companies(),
        [victim].into_iter().collect(),
        "differences: {:?}",
        report.differences
    );
    assert!(report.swapped.is_some());
    let repaired = companies::get(&pool, victim).await.unwrap().unwrap();
    assert_eq!(repaired.ai_config["requests_per_minute"], 60);

    owner.close().await;
    drop(stop);
    live.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ai_config_is_reinitialised_on_a_tier_change_and_otherwise_kept() {
    let topics = TestTopics::create("companies_tier", 1).await.unwrap();
    let db = TestDb::shard("companies_tier").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (kept, changed) = (Uuid::now_v7(), Uuid::now_v7());
    let mut first = Vec::new();
    for id in [kept, changed] {
        first.push(registered(id, "Co", Tier::Starter, Region::Us));
        first.push(provisioned(id, 0, "us-1", Region::Us));
    }
    publish_in_order(&producer, &first).await;
    let (stop, live) = spawn(companies_config(&topics, &db, 0));
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, &["tenants"]).await;
    // A per-company setting (what a later configuration event would write).
    let owner = trestle_store::connect_owner(&db.options, 1, None)
        .await
        .unwrap();
    for id in [kept, changed] {
        let mut tx = trestle_store::begin_for_tenant(&owner, id).await.unwrap();
        sqlx::query("UPDATE companies SET ai_config = '{\"requests_per_minute\": 7}'")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // Both registered again, later: `kept` with the same tier and a new name, `changed` as
    // premium.
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    publish_in_order(
        &producer,
        &[
            at(
                registered(kept, "Co renamed", Tier::Starter, Region::Us),
                later,
            ),
            at(registered(changed, "Co", Tier::Premium, Region::Us), later),
        ],
    )
    .await;
    wait_caught_up(&topics, &pool, &["tenants"]).await;
    let kept = companies::get(&pool, kept).await.unwrap().unwrap();
    assert_eq!(kept.name, "Co renamed");
    assert_eq!(
        kept.ai_config,
        serde_json::json!({"requests_per_minute": 7})
    );
    let changed = companies::get(&pool, changed).await.unwrap().unwrap();
    assert_eq!(changed.tier, "premium");
    assert_eq!(changed.ai_config["requests_per_minute"], 60);
    assert_eq!(changed.ai_config["included_queries_per_month"], 19_200);

    owner.close().await;
    drop(stop);
    live.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}
