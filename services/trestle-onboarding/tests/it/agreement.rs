//! After onboarding, every reader of tenancy gives each company the same place: the routing
//! projection (`tenant_routing`), the pool (the placement ledger and `cloud_projects`), the
//! engine's tenant directory (folded from `tenants`) and the company record in its shard
//! (`companies`), for 200 companies over three regions.

use std::time::Duration;

use trestle_events::{Event, IsolationLevel, Region, TenantProvisioned, Tier};
use trestle_kafka::EventProducer;
use trestle_projector::{ProjectionKind, ProjectorConfig, UsageShardConfig};
use trestle_testkit::fixtures::publish_all;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::{
    knowledge_bases, onboarding_config, project, provisionings, registration, spawn_onboarding,
    spawn_pool, spawn_projector, wait_projects,
};

const WAIT: Duration = Duration::from_secs(90);

/// Where one reader says a company lives: (database shard, cloud project, region).
type Place = (i32, String, String);

fn companies_projector(topics: &TestTopics, db: &TestDb, index: i32) -> ProjectorConfig {
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

/// The engine's directory, following the test's `tenants` topic.
async fn directory(
    topics: &TestTopics,
) -> (
    trestle_engine::Directory,
    trestle_kafka::follow::FollowGuard,
) {
    let default = trestle_engine::Tenant {
        tier: trestle_tiers::Tier::Starter,
        region: Region::Us,
        cloud_project: "shared-0".into(),
        isolation: trestle_events::IsolationLevel::Shared,
        standing: trestle_engine::Standing::Unknown,
        shard: None,
    };
    let directory = trestle_engine::Directory::new(default, trestle_engine::PriceBook::default());
    let guard = directory
        .follow(&topics.options, Duration::from_secs(30))
        .await
        .unwrap();
    (directory, guard)
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_pool_directory_and_shard_records_agree_on_where_each_company_lives() {
    let topics = TestTopics::create("onboarding_agree", 3).await.unwrap();
    let control = TestDb::control("onboarding_agree").await.unwrap();
    let shards = [
        TestDb::shard("onboarding_agree_0").await.unwrap(),
        TestDb::shard("onboarding_agree_1").await.unwrap(),
    ];
    let producer = EventProducer::new(&topics.options).unwrap();
    let regions = [Region::Us, Region::Eu, Region::Apac];
    let mut pool_projects = Vec::new();
    for region in regions {
        for n in 1..=2 {
            pool_projects.push(project(&format!("{}-{n}", region.as_str()), region));
        }
    }
    publish_all(&producer, &pool_projects).await;
    let _pool = spawn_pool(&topics, &control);
    wait_projects(&control, 6).await;
    let _routing = spawn_projector(ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: control.options.clone(),
        group_id: topics.group("routing"),
        projection: ProjectionKind::Routing,
        batch_max_wait_ms: 20,
        ..ProjectorConfig::default()
    });
    let _companies: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(i, db)| spawn_projector(companies_projector(&topics, db, i as i32)))
        .collect();
    let config = onboarding_config(&topics, &control);
    assert_eq!(
        (config.shards.shared, config.shards.dedicated),
        (2, 1),
        "the test's two shard databases are the shards onboarding places on"
    );
    let _onboarding = spawn_onboarding(config);
    let (directory, _following) = directory(&topics).await;

    let tiers = [
        Tier::Starter,
        Tier::Professional,
        Tier::Premium,
        Tier::Enterprise,
    ];
    let mut companies: Vec<Event> = (0..198)
        .map(|i| registration(tiers[i % 4], regions[i % 3], IsolationLevel::Shared))
        .collect();
    companies.push(registration(
        Tier::Enterprise,
        Region::Eu,
        IsolationLevel::Dedicated,
    ));
    companies.push(registration(
        Tier::Enterprise,
        Region::Apac,
        IsolationLevel::Dedicated,
    ));
    publish_all(&producer, &companies).await;
    let provisioned = provisionings(&topics, 400).await;
    assert_eq!(provisioned.len(), 200, "every company is provisioned");
    let knowledge_bases = knowledge_bases(&topics, 200).await;

    let control_pool = trestle_store::connect(&control.options).await.unwrap();
    let mut shard_pools = Vec::new();
    for db in &shards {
        shard_pools.push(trestle_store::connect(&db.options).await.unwrap());
    }
    let mut per_shard = [0usize; 2];
    for event in &companies {
        let Event::CompanyRegistered(registered) = event else {
            unreachable!()
        };
        let company = registered.meta.company_id;
        let [p]: [TenantProvisioned; 1] = provisioned[&company].clone().try_into().unwrap();
        assert_eq!(
            knowledge_bases.get(&company),
            Some(&vec![p.kb_notebook_id.clone()]),
            "{company}: one knowledge base requested, the notebook its provisioning names"
        );
        assert_eq!(
            p.kb_notebook_id,
            trestle_onboarding::kb_notebook_id(company)
        );
        let logged: Place = (
            p.database_shard,
            p.cloud_project_id.clone(),
            p.region.as_str().to_owned(),
        );
        assert_eq!(
            logged.2,
            registered.region.as_str(),
            "{company}: its region"
        );
        per_shard[p.database_shard as usize] += 1;

        let routed = routed(&control_pool, company).await;
        let placed = placed(&control_pool, company).await;
        let in_pool = pool_region(&control_pool, &logged.1, company, registered.isolation).await;
        let known = known(&directory, company).await;
        let shard = p.database_shard as usize;
        let record = recorded(&shard_pools[shard], company).await;
        let elsewhere = trestle_query::companies::get(&shard_pools[1 - shard], company)
            .await
            .unwrap();
        assert_eq!(routed, logged, "{company}: routing agrees with the log");
        assert_eq!(placed, logged, "{company}: the placement ledger agrees");
        assert_eq!(in_pool, logged.2, "{company}: its project is of its region");
        assert_eq!(
            known, logged,
            "{company}: the engine's directory agrees (shard, project, region)"
        );
        assert_eq!(record, logged, "{company}: its shard's record agrees");
        assert_eq!(elsewhere, None, "{company}: no record in the other shard");
    }
    assert!(
        per_shard.iter().all(|n| *n > 50),
        "both shards hold companies: {per_shard:?}"
    );

    control_pool.close().await;
    for pool in shard_pools {
        pool.close().await;
    }
    drop((_onboarding, _companies, _routing, _pool));
    control.drop_db().await;
    for db in shards {
        db.drop_db().await;
    }
    topics.delete().await;
}

/// The routing projection's place, once it has read the provisioning.
async fn routed(control: &sqlx::PgPool, company: Uuid) -> Place {
    trestle_testkit::wait_for("the routing projection", WAIT, || async move {
        let route = trestle_query::routing::lookup(control, company)
            .await
            .ok()??;
        route.provisioned_at?;
        Some((
            route.database_shard?,
            route.cloud_project_id?,
            route.region?,
        ))
    })
    .await
}

/// The placement ledger's place (written before the provisioning is published).
async fn placed(control: &sqlx::PgPool, company: Uuid) -> Place {
    sqlx::query_as(
        "SELECT database_shard, cloud_project_id, region FROM tenant_placements
          WHERE company_id = $1",
    )
    .bind(company)
    .fetch_one(control)
    .await
    .unwrap()
}

/// The pool's region of the company's project (and, for a dedicated company, that the project
/// is dedicated to it), once the pool projection knows the project.
async fn pool_region(
    control: &sqlx::PgPool,
    project: &str,
    company: Uuid,
    isolation: IsolationLevel,
) -> String {
    let p = trestle_testkit::wait_for("the pool projection", WAIT, || async move {
        trestle_query::pool::project(control, project).await.ok()?
    })
    .await;
    let dedicated = (isolation == IsolationLevel::Dedicated).then_some(company);
    assert_eq!(
        p.dedicated_company_id, dedicated,
        "{project}: its dedication"
    );
    assert_eq!(p.status, "active", "{project}");
    p.region.expect("a project of the pool has a region")
}

/// The engine directory's (shard, project, region), once it has read the provisioning.
async fn known(directory: &trestle_engine::Directory, company: Uuid) -> Place {
    let tenant = directory.wait_provisioned(&company, WAIT).await;
    assert_eq!(
        tenant.standing,
        trestle_engine::Standing::Provisioned,
        "{company}"
    );
    let shard = tenant.shard.expect("a provisioned company has a shard");
    (
        shard,
        tenant.cloud_project,
        tenant.region.as_str().to_owned(),
    )
}

/// The company record's place in a shard database, once the shard's projector wrote it.
async fn recorded(shard: &sqlx::PgPool, company: Uuid) -> Place {
    let record =
        trestle_testkit::wait_for("the company record in its shard", WAIT, || async move {
            trestle_query::companies::get(shard, company).await.ok()?
        })
        .await;
    (
        record.database_shard,
        record.cloud_project_id,
        record.region,
    )
}
