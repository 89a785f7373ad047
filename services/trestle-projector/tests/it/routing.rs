//! Tenant routing: the `routing` projection (order-independent fold, lookup) and the per-shard
//! usage projectors (each record in exactly one shard, companies in their provisioned shard).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use trestle_events::{
    CompanyRegistered, Event, IsolationLevel, Meta, Meter, Region, TenantProvisioned, Tier,
};
use trestle_kafka::EventProducer;
use trestle_projector::{ProjectionKind, ProjectorConfig, UsageShardConfig};
use trestle_query::routing;
use trestle_testkit::fixtures;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::{expected, publish_all, spawn, usage};

pub(crate) fn registered(company: Uuid, name: &str, tier: Tier, region: Region) -> Event {
    Event::CompanyRegistered(CompanyRegistered {
        name: name.into(),
        ..fixtures::registered(company, tier, region)
    })
}

pub(crate) fn provisioned(company: Uuid, shard: i32, project: &str, region: Region) -> Event {
    Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region,
        database_shard: shard,
        cloud_project_id: project.into(),
        isolation_level: IsolationLevel::Shared,
        kb_notebook_id: format!("kb-{company}"),
    })
}

/// Publishes one at a time, so the log keeps the given order within a company.
pub(crate) async fn publish_in_order(producer: &EventProducer, events: &[Event]) {
    for e in events {
        producer.publish(e).await.expect("publish");
    }
}

/// Waits until the projector writing to `pool` has stored offsets at the end of every
/// partition of each of `logical` topics.
pub(crate) async fn wait_caught_up(topics: &TestTopics, pool: &sqlx::PgPool, logical: &[&str]) {
    for name in logical {
        crate::support::wait_topic_caught_up(topics, pool, name, Duration::from_secs(60)).await;
    }
}

/// Config of a control-database projector of this test.
pub(crate) fn control_config(
    topics: &TestTopics,
    db: &TestDb,
    kind: ProjectionKind,
) -> ProjectorConfig {
    ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group(&format!("{kind:?}")),
        projection: kind,
        batch_max_wait_ms: 20,
        ..ProjectorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_is_the_same_whichever_of_registration_and_provisioning_comes_first() {
    let topics = TestTopics::create("routing_order", 2).await.unwrap();
    let db = TestDb::control("routing_order").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    // The registration says eu, the provisioning put it in us: the provisioned region wins.
    let reg_a = registered(a, "Acme", Tier::Premium, Region::Eu);
    let prov_a = provisioned(a, 1, "gcp-7", Region::Us);
    let reg_b = registered(b, "Acme", Tier::Premium, Region::Eu);
    let prov_b = provisioned(b, 1, "gcp-7", Region::Us);
    // a: registration first; b: provisioning first, then a re-published (older) copy of it
    // after a newer provisioning moved b to shard 2.
    let mut newer_b = provisioned(b, 2, "gcp-8", Region::Us);
    if let Event::TenantProvisioned(p) = &mut newer_b {
        p.meta.occurred_at += chrono::Duration::seconds(1);
    }
    publish_in_order(&producer, &[reg_a, prov_a]).await;
    publish_in_order(&producer, &[prov_b.clone(), reg_b, newer_b, prov_b]).await;

    let (stop, handle) = spawn(control_config(&topics, &db, ProjectionKind::Routing));
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, &["tenants"]).await;

    let route_a = routing::lookup(&pool, a)
        .await
        .unwrap()
        .expect("a is routed");
    let route_b = routing::lookup(&pool, b)
        .await
        .unwrap()
        .expect("b is routed");
    assert_eq!(route_a.region.as_deref(), Some("us"));
    assert_eq!(route_a.database_shard, Some(1));
    assert_eq!(route_a.cloud_project_id.as_deref(), Some("gcp-7"));
    assert_eq!(route_a.isolation_level.as_deref(), Some("shared"));
    assert_eq!(route_a.tier.as_deref(), Some("premium"));
    assert_eq!(route_a.name.as_deref(), Some("Acme"));
    assert!(route_a.registered_at.is_some() && route_a.provisioned_at.is_some());
    // b is a's twin except for its newest provisioning, which the stale copy did not undo.
    let strip = |r: &routing::Route| {
        (
            r.region.clone(),
            r.isolation_level.clone(),
            r.tier.clone(),
            r.name.clone(),
        )
    };
    assert_eq!(strip(&route_a), strip(&route_b));
    assert_eq!(route_b.database_shard, Some(2));
    assert_eq!(route_b.cloud_project_id.as_deref(), Some("gcp-8"));
    assert_eq!(routing::lookup(&pool, Uuid::now_v7()).await.unwrap(), None);

    let _ = stop.send(());
    handle.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

/// A company whose default shard (of 2) is not `shard`, so routing has to move it there.
fn company_not_defaulting_to(shard: i32) -> Uuid {
    loop {
        let c = Uuid::now_v7();
        if trestle_projector::default_shard(c, 2) != shard {
            return c;
        }
    }
}

pub(crate) fn shard_config(
    topics: &TestTopics,
    shard_db: &TestDb,
    control: &TestDb,
    index: i32,
) -> ProjectorConfig {
    ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: shard_db.options.clone(),
        group_id: topics.group(&format!("usage-{index}")),
        batch_max_wait_ms: 20,
        batch_max_records: 50,
        shard: Some(UsageShardConfig {
            index,
            count: 2,
            control: control.options.clone(),
        }),
        ..ProjectorConfig::default()
    }
}

/// Per company: (usage records, sum of quantity_milli, sum of cost) in one shard database,
/// read as each tenant in turn (row-level security).
async fn shard_usage(pool: &sqlx::PgPool, companies: &[Uuid]) -> BTreeMap<Uuid, (i64, i64, i64)> {
    let mut out = BTreeMap::new();
    for c in companies {
        let mut tx = trestle_store::begin_for_tenant(pool, *c).await.unwrap();
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), coalesce(sum(quantity_milli), 0)::int8,
                    coalesce(sum(cost_micro_usd), 0)::int8 FROM usage_records",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        if row.0 > 0 {
            out.insert(*c, row);
        }
    }
    out
}

/// Idempotency keys of a shard's usage, of the given companies.
async fn shard_keys(pool: &sqlx::PgPool, companies: &[Uuid]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for c in companies {
        let mut tx = trestle_store::begin_for_tenant(pool, *c).await.unwrap();
        let k: Vec<String> = sqlx::query_scalar("SELECT idempotency_key FROM usage_records")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        keys.extend(k);
    }
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn each_company_s_usage_lands_in_exactly_one_shard_its_routed_one() {
    let topics = TestTopics::create("usage_shards", 3).await.unwrap();
    let control = TestDb::control("usage_shards_ctl").await.unwrap();
    let shards = [
        TestDb::shard("usage_shard0").await.unwrap(),
        TestDb::shard("usage_shard1").await.unwrap(),
    ];
    let producer = EventProducer::new(&topics.options).unwrap();
    // Provisioned against their default rule, so only routing puts them where they belong.
    let on0: Vec<Uuid> = (0..3).map(|_| company_not_defaulting_to(0)).collect();
    let on1: Vec<Uuid> = (0..3).map(|_| company_not_defaulting_to(1)).collect();
    let unprovisioned: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let mut tenants = Vec::new();
    for c in &on0 {
        tenants.push(registered(*c, "zero", Tier::Starter, Region::Us));
        tenants.push(provisioned(*c, 0, "gcp-1", Region::Us));
    }
    for c in &on1 {
        tenants.push(provisioned(*c, 1, "gcp-2", Region::Us));
    }
    for c in &unprovisioned {
        tenants.push(registered(*c, "later", Tier::Starter, Region::Us));
    }
    publish_all(&producer, &tenants).await;

    let (stops, handles): (Vec<_>, Vec<_>) = (0..2)
        .map(|i| spawn(shard_config(&topics, &shards[i], &control, i as i32)))
        .unzip();
    let pools = [
        trestle_store::connect(&shards[0].options).await.unwrap(),
        trestle_store::connect(&shards[1].options).await.unwrap(),
    ];
    // Onboarding comes before usage: both projectors know the routing first.
    for pool in &pools {
        wait_caught_up(&topics, pool, &["tenants"]).await;
    }
    let all: Vec<Uuid> = on0
        .iter()
        .chain(&on1)
        .chain(&unprovisioned)
        .copied()
        .collect();
    let events: Vec<Event> = (0..900)
        .map(|i| {
            usage(
                all[i % all.len()],
                Uuid::now_v7(),
                Meter::GeminiFlashQueries,
                1000 + i as i64,
                100 + i as i64,
            )
        })
        .collect();
    publish_all(&producer, &events).await;
    for pool in &pools {
        wait_caught_up(&topics, pool, &["tenants", "usage"]).await;
    }

    let want = expected(&events);
    let got = [
        shard_usage(&pools[0], &all).await,
        shard_usage(&pools[1], &all).await,
    ];
    for c in &all {
        let in0 = got[0].contains_key(c);
        let in1 = got[1].contains_key(c);
        assert!(in0 ^ in1, "company {c} must be in exactly one shard");
        let shard = if in0 { 0 } else { 1 };
        let routed = if on0.contains(c) {
            0
        } else if on1.contains(c) {
            1
        } else {
            trestle_projector::default_shard(*c, 2)
        };
        assert_eq!(shard, routed, "company {c} is in its routed shard");
        let (records, quantity_milli, cost) = got[shard as usize][c];
        let published: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::UsageRecorded(u) if u.meta.company_id == *c => Some(u),
                _ => None,
            })
            .collect();
        assert_eq!(records, published.len() as i64);
        assert_eq!(
            quantity_milli,
            published.iter().map(|u| u.quantity_milli).sum::<i64>()
        );
        assert_eq!(cost, want[c].1);
    }
    let total: i64 = got.iter().flat_map(|g| g.values()).map(|r| r.0).sum();
    assert_eq!(total, events.len() as i64);

    for s in stops {
        let _ = s.send(());
    }
    for h in handles {
        h.await.unwrap();
    }
    for p in pools {
        p.close().await;
    }
    for db in shards {
        db.drop_db().await;
    }
    control.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_counts_once_across_shards_when_projectors_disagree_about_a_provisioning() {
    let topics = TestTopics::create("usage_disagree", 2).await.unwrap();
    let control = TestDb::control("usage_disagree_ctl").await.unwrap();
    let shards = [
        TestDb::shard("usage_disagree0").await.unwrap(),
        TestDb::shard("usage_disagree1").await.unwrap(),
    ];
    let producer = EventProducer::new(&topics.options).unwrap();
    // Default shard 0, provisioned to shard 1.
    let companies: Vec<Uuid> = (0..4).map(|_| company_not_defaulting_to(1)).collect();
    let tenants: Vec<Event> = companies
        .iter()
        .map(|c| provisioned(*c, 1, "gcp-2", Region::Us))
        .collect();
    publish_all(&producer, &tenants).await;
    // Shard 0's projector is made to never see the provisioning (as if it lagged on `tenants`
    // for ever): its stored tenants offsets already stand at the end. Shard 1's sees it.
    let pools = [
        trestle_store::connect(&shards[0].options).await.unwrap(),
        trestle_store::connect(&shards[1].options).await.unwrap(),
    ];
    let tenants_topic = topics.topic("tenants");
    for (p, end) in trestle_testkit::end_offsets(&topics.options, &tenants_topic).unwrap() {
        sqlx::query(
            "INSERT INTO projector_offsets (projector, topic, partition, next_offset)
             VALUES ('usage', $1, $2, $3)",
        )
        .bind(&tenants_topic)
        .bind(p)
        .bind(end)
        .execute(&pools[0])
        .await
        .unwrap();
    }
    let events: Vec<Event> = (0..600)
        .map(|i| {
            usage(
                companies[i % companies.len()],
                Uuid::now_v7(),
                Meter::GeminiProQueries,
                1000,
                7,
            )
        })
        .collect();
    // Shard 0's projector alone decides the first half (by the default rule: it knows nothing).
    let (stop0, handle0) = spawn(shard_config(&topics, &shards[0], &control, 0));
    publish_all(&producer, &events[..300]).await;
    wait_caught_up(&topics, &pools[0], &["usage"]).await;
    // Then shard 1's projector, which knows the provisioning, joins; the second half follows.
    let (stop1, handle1) = spawn(shard_config(&topics, &shards[1], &control, 1));
    wait_caught_up(&topics, &pools[1], &["tenants", "usage"]).await;
    publish_all(&producer, &events[300..500]).await;
    for pool in &pools {
        wait_caught_up(&topics, pool, &["usage"]).await;
    }
    // By now shard 1's projector has decided records knowing the provisioning: what follows
    // is the provisioned shard's.
    publish_all(&producer, &events[500..]).await;
    for pool in &pools {
        wait_caught_up(&topics, pool, &["usage"]).await;
    }
    let (stops, handles) = (vec![stop0, stop1], vec![handle0, handle1]);

    let keys = [
        shard_keys(&pools[0], &companies).await,
        shard_keys(&pools[1], &companies).await,
    ];
    assert!(
        keys[0].is_disjoint(&keys[1]),
        "a usage record was counted by both shards"
    );
    let published: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::UsageRecorded(u) => Some(u.idempotency_key.clone()),
            _ => None,
        })
        .collect();
    let counted: BTreeSet<String> = keys[0].union(&keys[1]).cloned().collect();
    assert_eq!(
        counted, published,
        "every usage record is counted by one shard"
    );
    // Rows decided before the provisioning was known stay where the default rule put them
    // (the middle part goes to whichever projector decided it first); from then on the
    // company's usage goes to its provisioned shard.
    let key = |e: &Event| match e {
        Event::UsageRecorded(u) => u.idempotency_key.clone(),
        _ => unreachable!(),
    };
    assert!(events[..300].iter().all(|e| keys[0].contains(&key(e))));
    assert!(events[500..].iter().all(|e| keys[1].contains(&key(e))));

    for s in stops {
        let _ = s.send(());
    }
    for h in handles {
        h.await.unwrap();
    }
    for p in pools {
        p.close().await;
    }
    for db in shards {
        db.drop_db().await;
    }
    control.drop_db().await;
    topics.delete().await;
}
