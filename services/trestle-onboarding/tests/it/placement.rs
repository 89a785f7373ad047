//! Where onboarding places companies: shard by the hash of the id (dedicated: the dedicated
//! shard), the least loaded active project of the region (full ones skipped), a project of its
//! own for a dedicated company — and each company provisioned once, however often it is
//! registered or the workflow restarted.

use std::collections::BTreeMap;

use trestle_events::{Event, IsolationLevel, Region, Tier};
use trestle_kafka::EventProducer;
use trestle_onboarding::placement::{dedicated_project, shared_shard};
use trestle_testkit::fixtures::publish_all;
use trestle_testkit::{TestDb, TestTopics};

use crate::support::{
    dedicated_projects, limit, onboarding_config, project, provisionings, registration,
    spawn_onboarding, spawn_pool, wait_projects,
};

const TIERS: [Tier; 4] = [
    Tier::Starter,
    Tier::Professional,
    Tier::Premium,
    Tier::Enterprise,
];

#[tokio::test(flavor = "multi_thread")]
async fn companies_land_on_their_region_hashed_shard_and_least_loaded_project() {
    let topics = TestTopics::create("onboarding_place", 3).await.unwrap();
    let db = TestDb::control("onboarding_place").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let regions = [Region::Us, Region::Eu, Region::Apac];
    // Two usable projects per region; `eu-full` is at its limit and never used.
    let mut pool = vec![project("eu-full", Region::Eu), limit("eu-full", 0)];
    for region in regions {
        for n in 1..=2 {
            pool.push(project(&format!("{}-{n}", region.as_str()), region));
        }
    }
    publish_all(&producer, &pool).await;
    let (_pool_stop, _pool) = spawn_pool(&topics, &db);
    wait_projects(&db, 7).await;
    let config = onboarding_config(&topics, &db);
    let shards = config.shards.clone();
    let (_stop, _onboarding) = spawn_onboarding(config);

    // 200 companies across the three regions and four tiers, two of them dedicated.
    let mut companies = Vec::new();
    for i in 0..198 {
        let region = regions[i % 3];
        companies.push(registration(TIERS[i % 4], region, IsolationLevel::Shared));
    }
    for region in [Region::Eu, Region::Us] {
        companies.push(registration(
            Tier::Enterprise,
            region,
            IsolationLevel::Dedicated,
        ));
    }
    publish_all(&producer, &companies).await;

    let provisioned = provisionings(&topics, 400).await;
    assert_eq!(provisioned.len(), 200, "every company is provisioned");
    let mut per_project: BTreeMap<String, usize> = BTreeMap::new();
    for event in &companies {
        let Event::CompanyRegistered(registered) = event else {
            unreachable!()
        };
        let company = registered.meta.company_id;
        let placements = &provisioned[&company];
        assert_eq!(placements.len(), 1, "{company} is provisioned once");
        let placement = &placements[0];
        assert_eq!(placement.region, registered.region);
        if registered.isolation == IsolationLevel::Dedicated {
            assert_eq!(placement.isolation_level, IsolationLevel::Dedicated);
            assert_eq!(placement.database_shard, shards.dedicated);
            assert_eq!(placement.cloud_project_id, dedicated_project(company));
        } else {
            assert_eq!(placement.isolation_level, IsolationLevel::Shared);
            assert_eq!(placement.database_shard, shared_shard(company, &shards));
            let region = registered.region.as_str();
            assert!(
                placement
                    .cloud_project_id
                    .starts_with(&format!("{region}-")),
                "{company} of {region} landed on {}",
                placement.cloud_project_id
            );
            assert_ne!(
                placement.cloud_project_id, "eu-full",
                "a full project is skipped"
            );
            *per_project
                .entry(placement.cloud_project_id.clone())
                .or_default() += 1;
        }
    }
    // Least loaded: the two projects of each region took turns (66 companies per region).
    for region in regions {
        let counts: Vec<usize> = (1..=2)
            .map(|n| per_project[&format!("{}-{n}", region.as_str())])
            .collect();
        assert_eq!(counts, vec![33, 33], "{} is balanced", region.as_str());
    }
    // Both dedicated companies got their own project registered in the pool, once.
    let dedicated = dedicated_projects(&topics).await;
    assert_eq!(dedicated.len(), 2);
    for (company, projects) in &dedicated {
        assert_eq!(projects, &vec![dedicated_project(*company)]);
    }
    wait_projects(&db, 9).await;
    db.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_registrations_and_restarts_provision_each_company_once() {
    let topics = TestTopics::create("onboarding_once", 2).await.unwrap();
    let db = TestDb::control("onboarding_once").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    publish_all(&producer, &[project("us-1", Region::Us)]).await;
    let (_pool_stop, _pool) = spawn_pool(&topics, &db);
    wait_projects(&db, 1).await;
    let config = onboarding_config(&topics, &db);

    let first: Vec<Event> = (0..20)
        .map(|_| registration(Tier::Professional, Region::Us, IsolationLevel::Shared))
        .collect();
    let (stop, onboarding) = spawn_onboarding(config.clone());
    publish_all(&producer, &first).await;
    provisionings(&topics, 40).await;
    // Stop the workflow, then publish each registration again — the same event re-published
    // (a producer retry) and a second registration of the same company (a client retry) —
    // and start it again: nobody is provisioned a second time.
    drop(stop);
    onboarding.await.unwrap();
    let mut again = Vec::new();
    for event in &first {
        let Event::CompanyRegistered(registered) = event else {
            unreachable!()
        };
        again.push(event.clone());
        let mut second = registered.clone();
        second.meta = trestle_events::Meta::root(registered.meta.company_id);
        again.push(Event::CompanyRegistered(second));
    }
    publish_all(&producer, &again).await;
    let last = registration(Tier::Starter, Region::Us, IsolationLevel::Shared);
    publish_all(&producer, std::slice::from_ref(&last)).await;
    let (_stop, _onboarding) = spawn_onboarding(config);
    // The last registration's provisioning comes after every repeat in its partition's order
    // only per company, so wait for it, then for the topic's end.
    let provisioned = provisionings(&topics, 20 + 20 + 40 + 1 + 1).await;
    assert_eq!(provisioned.len(), 21);
    for (company, placements) in &provisioned {
        assert_eq!(placements.len(), 1, "{company} is provisioned once");
    }
    db.drop_db().await;
    topics.delete().await;
}
