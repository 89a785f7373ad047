//! `trestle-admin shards rebalance` and `tenant move` through the CLI against the real stack:
//! the plan changes nothing, `--apply` moves the planned companies (with their usage), and the
//! rebalanced shards need no more moves.

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_events::{Event, IsolationLevel, Meta, Meter, Region, TenantProvisioned, Tier};
use trestle_kafka::EventProducer;
use trestle_projector::{ProjectionKind, ProjectorConfig, UsageShardConfig};
use trestle_testkit::fixtures::{publish_all, publish_in_order, registered, usage};
use trestle_testkit::{wait_for, TestDb, TestTopics};
use uuid::Uuid;

use crate::text;

fn provisioned(company: Uuid, shard: i32) -> Event {
    Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Us,
        database_shard: shard,
        cloud_project_id: "gcp-us-1".into(),
        isolation_level: IsolationLevel::Shared,
        kb_notebook_id: String::new(),
    })
}

/// The admin config of this test, as a TOML file.
fn config_file(
    topics: &TestTopics,
    control: &TestDb,
    shards: &[TestDb],
) -> tempfile::NamedTempFile {
    let db = |d: &TestDb| {
        format!(
            "url = \"{}\"\nowner_url = \"{}\"\n",
            d.options.url, d.options.owner_url
        )
    };
    let mut toml = format!(
        "[kafka]\nbootstrap_servers = \"{}\"\ntopic_prefix = \"{}\"\n\n[control]\n{}",
        topics.options.bootstrap_servers,
        topics.options.topic_prefix,
        db(control)
    );
    for s in shards {
        toml.push_str(&format!("\n[[shards]]\n{}", db(s)));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), toml).unwrap();
    file
}

fn admin(config: &tempfile::NamedTempFile, args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trestle-admin"))
        .arg("--config")
        .arg(config.path())
        .args(args)
        .output()
        .expect("run trestle-admin");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{args:?}: {stderr}\n{stdout}");
    (stdout, stderr)
}

fn spawn(config: ProjectorConfig) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        trestle_projector::run(config, async {
            let _ = stopped.await;
        })
        .await
        .expect("projector runs");
    });
    stop
}

/// Companies per shard, as the routing projection has it.
async fn per_shard(control: &sqlx::PgPool) -> BTreeMap<i32, usize> {
    let mut counts = BTreeMap::new();
    for r in trestle_query::routing::provisioned(control).await.unwrap() {
        *counts.entry(r.database_shard.unwrap()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn rebalance_plans_moves_changing_nothing_and_apply_moves_companies_with_their_usage() {
    let topics = TestTopics::create("admin_rebalance", 2).await.unwrap();
    let control = TestDb::control("admin_rebalance_ctl").await.unwrap();
    let shards = vec![
        TestDb::shard("admin_rebalance0").await.unwrap(),
        TestDb::shard("admin_rebalance1").await.unwrap(),
    ];
    let producer = EventProducer::new(&topics.options).unwrap();
    // Six companies, all on shard 0, each with the same usage.
    let companies: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let mut tenants = Vec::new();
    for c in &companies {
        tenants.push(Event::CompanyRegistered(registered(
            *c,
            Tier::Starter,
            Region::Us,
        )));
        tenants.push(provisioned(*c, 0));
    }
    publish_in_order(&producer, &tenants).await;
    let mut stops = vec![spawn(ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: control.options.clone(),
        group_id: topics.group("routing"),
        projection: ProjectionKind::Routing,
        batch_max_wait_ms: 20,
        ..ProjectorConfig::default()
    })];
    for (i, shard) in shards.iter().enumerate() {
        stops.push(spawn(ProjectorConfig {
            kafka: topics.options.clone(),
            postgres: shard.options.clone(),
            group_id: topics.group(&format!("usage-{i}")),
            batch_max_wait_ms: 20,
            shard: Some(UsageShardConfig {
                index: i as i32,
                count: 2,
                control: control.options.clone(),
            }),
            ..ProjectorConfig::default()
        }));
    }
    let usage_events: Vec<Event> = (0..120)
        .map(|i| {
            usage(
                companies[i % 6],
                Uuid::now_v7(),
                Meter::GeminiFlashQueries,
                1000,
                100,
            )
        })
        .collect();
    publish_all(&producer, &usage_events).await;
    let control_pool = trestle_store::connect(&control.options).await.unwrap();
    let shard0 = trestle_store::connect(&shards[0].options).await.unwrap();
    let queries = |pool: sqlx::PgPool, c: Uuid| async move {
        trestle_query::usage::monthly(&pool, c, chrono::Utc::now())
            .await
            .unwrap()
            .queries()
    };
    wait_for(
        "routing and usage on shard 0",
        Duration::from_secs(60),
        || {
            let (control_pool, shard0, companies) =
                (control_pool.clone(), shard0.clone(), companies.clone());
            async move {
                let placed = per_shard(&control_pool).await == BTreeMap::from([(0, 6)]);
                let mut counted = 0;
                for c in companies {
                    counted += queries(shard0.clone(), c).await;
                }
                (placed && counted == 120).then_some(())
            }
        },
    )
    .await;

    let config = config_file(&topics, &control, &shards);
    let (plan, _) = admin(&config, &["shards", "rebalance", "--plan"]);
    assert_eq!(
        plan.lines().filter(|l| l.starts_with("move ")).count(),
        3,
        "{plan}"
    );
    assert!(plan.contains("companies 100 % → 0 %"), "{plan}");
    assert_eq!(
        per_shard(&control_pool).await,
        BTreeMap::from([(0, 6)]),
        "a plan moves nothing"
    );

    let (applied, _) = admin(&config, &["shards", "rebalance", "--apply"]);
    assert_eq!(
        applied.lines().filter(|l| l.starts_with("moved ")).count(),
        3,
        "{applied}"
    );
    wait_for(
        "the routing of the moved companies",
        Duration::from_secs(60),
        || {
            let control_pool = control_pool.clone();
            async move {
                (per_shard(&control_pool).await == BTreeMap::from([(0, 3), (1, 3)])).then_some(())
            }
        },
    )
    .await;
    // Each company's usage is whole in the shard it is routed to, and nowhere else.
    let shard1 = trestle_store::connect(&shards[1].options).await.unwrap();
    for r in trestle_query::routing::provisioned(&control_pool)
        .await
        .unwrap()
    {
        let (home, away) = match r.database_shard {
            Some(0) => (&shard0, &shard1),
            _ => (&shard1, &shard0),
        };
        assert_eq!(
            queries(home.clone(), r.company_id).await,
            20,
            "{}",
            r.company_id
        );
        assert_eq!(
            queries(away.clone(), r.company_id).await,
            0,
            "{}",
            r.company_id
        );
    }
    let (again, _) = admin(&config, &["shards", "rebalance"]);
    assert!(again.contains("no moves"), "{again}");

    for s in stops {
        let _ = s.send(());
    }
    for p in [control_pool, shard0, shard1] {
        p.close().await;
    }
    for db in shards {
        db.drop_db().await;
    }
    control.drop_db().await;
    topics.delete().await;
}
