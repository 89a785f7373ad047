//! Moving a tenant between shards by replay (`trestle_projector::moves`) against the real
//! stack: a move under load, and an interrupted move continued under its id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trestle_events::{Event, Meta, Meter, Region, TenantMoveStarted, Tier, UsageRecorded};
use trestle_kafka::EventProducer;
use trestle_projector::moves::{self, MoveSetup};
use trestle_projector::{ProjectionKind, ProjectorConfig};
use trestle_testkit::{read_topic, wait_for, TestDb, TestTopics};
use uuid::Uuid;

use crate::routing::{provisioned, publish_in_order, registered, shard_config, wait_caught_up};
use crate::support::{monthly_totals, publish_all, spawn, usage};

/// A test's topics, control database, `n` shard databases, a sharded usage projector per
/// shard, the routing projector, and a billing projector on shard 0.
struct Stack {
    topics: TestTopics,
    control: TestDb,
    shards: Vec<TestDb>,
    pools: Vec<sqlx::PgPool>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Stack {
    async fn start(test: &str, n: usize, tenants: &[Event]) -> Stack {
        let topics = TestTopics::create(test, 2).await.unwrap();
        let control = TestDb::control(&format!("{test}_ctl")).await.unwrap();
        let mut shards = Vec::new();
        for i in 0..n {
            shards.push(TestDb::shard(&format!("{test}{i}")).await.unwrap());
        }
        let producer = EventProducer::new(&topics.options).unwrap();
        publish_in_order(&producer, tenants).await;
        let mut runs: Vec<ProjectorConfig> = (0..n)
            .map(|i| {
                let mut config = shard_config(&topics, &shards[i], &control, i as i32);
                if let Some(shard) = &mut config.shard {
                    shard.count = n as i32;
                }
                config
            })
            .collect();
        runs.push(crate::routing::control_config(
            &topics,
            &control,
            ProjectionKind::Routing,
        ));
        runs.push(ProjectorConfig {
            kafka: topics.options.clone(),
            postgres: shards[0].options.clone(),
            group_id: topics.group("billing-0"),
            projection: ProjectionKind::Billing,
            batch_max_wait_ms: 20,
            ..ProjectorConfig::default()
        });
        let (stops, handles) = runs.into_iter().map(spawn).unzip();
        let mut pools = Vec::new();
        for shard in &shards {
            pools.push(trestle_store::connect(&shard.options).await.unwrap());
        }
        for pool in &pools {
            wait_caught_up(&topics, pool, &["tenants"]).await;
        }
        Stack {
            topics,
            control,
            shards,
            pools,
            stops,
            handles,
        }
    }

    fn setup(&self) -> MoveSetup {
        MoveSetup {
            kafka: self.topics.options.clone(),
            control: self.control.options.clone(),
            shards: self.shards.iter().map(|s| s.options.clone()).collect(),
            projector: "usage".into(),
            source_wait_ms: 60_000,
            progress: true,
        }
    }

    async fn caught_up(&self) {
        for pool in &self.pools {
            wait_caught_up(&self.topics, pool, &["tenants", "usage"]).await;
        }
    }

    async fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
        for h in self.handles {
            h.await.unwrap();
        }
        for p in self.pools {
            p.close().await;
        }
        for db in self.shards {
            db.drop_db().await;
        }
        self.control.drop_db().await;
        self.topics.delete().await;
    }
}

/// Per company in one shard: (usage records, sum of quantity_milli, sum of cost, rows of
/// company_ai_usage + company_tiers), read as the tenant.
async fn rows_of(pool: &sqlx::PgPool, company: Uuid) -> (i64, i64, i64, i64) {
    let mut tx = trestle_store::begin_for_tenant(pool, company)
        .await
        .unwrap();
    let row = sqlx::query_as(
        "SELECT (SELECT count(*) FROM usage_records),
                (SELECT coalesce(sum(quantity_milli), 0)::int8 FROM usage_records),
                (SELECT coalesce(sum(cost_micro_usd), 0)::int8 FROM usage_records),
                (SELECT count(*) FROM company_ai_usage) + (SELECT count(*) FROM company_tiers)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    row
}

/// (records, quantity_milli, cost) of the distinct usage records (by idempotency key) of a
/// company among `events`: what the log says it used.
fn log_totals(events: &[Event], company: Uuid) -> (i64, i64, i64) {
    let mut seen = BTreeSet::new();
    let mut t = (0, 0, 0);
    for e in events {
        if let Event::UsageRecorded(u) = e {
            if u.meta.company_id == company && seen.insert(u.idempotency_key.clone()) {
                t = (t.0 + 1, t.1 + u.quantity_milli, t.2 + u.cost_micro_usd);
            }
        }
    }
    t
}

fn usage_of(company: Uuid, i: usize) -> Event {
    usage(
        company,
        Uuid::now_v7(),
        if i.is_multiple_of(3) {
            Meter::GeminiProQueries
        } else {
            Meter::GeminiFlashQueries
        },
        1000,
        100 + (i % 7) as i64,
    )
}

/// Publishes a batch of the company's usage (and one of `other`'s) every few ms until
/// stopped; every event published is kept.
fn start_load(
    producer: EventProducer,
    company: Uuid,
    other: Uuid,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<Event>>>, tokio::task::JoinHandle<()>) {
    let published = Arc::new(Mutex::new(Vec::new()));
    let log = published.clone();
    let handle = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(5));
        let mut i = 0;
        while !stop.load(Ordering::SeqCst) {
            pace.tick().await;
            let mut batch: Vec<Event> = (0..10).map(|k| usage_of(company, i + k)).collect();
            batch.push(usage_of(other, i));
            publish_all(&producer, &batch).await;
            log.lock().unwrap().extend(batch);
            i += 10;
        }
    });
    (published, handle)
}

fn company_defaulting_to(shard: i32) -> Uuid {
    loop {
        let c = Uuid::now_v7();
        if trestle_projector::default_shard(c, 2) == shard {
            return c;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_under_load_puts_every_record_in_the_target_once_and_leaves_nothing_behind() {
    // The mover lives on shard 0 and moves to 1; bystanders live on 0 and 1.
    let mover = company_defaulting_to(0);
    let (stay0, stay1) = (Uuid::now_v7(), Uuid::now_v7());
    let tenants = vec![
        registered(mover, "Mover", Tier::Premium, Region::Eu),
        provisioned(mover, 0, "gcp-eu-1", Region::Eu),
        registered(stay0, "Stays on 0", Tier::Starter, Region::Eu),
        provisioned(stay0, 0, "gcp-eu-1", Region::Eu),
        registered(stay1, "Stays on 1", Tier::Starter, Region::Eu),
        provisioned(stay1, 1, "gcp-eu-1", Region::Eu),
    ];
    let stack = Stack::start("move_load", 2, &tenants).await;
    let producer = EventProducer::new(&stack.topics.options).unwrap();
    let history: Vec<Event> = (0..600)
        .map(|i| usage_of([mover, stay0, stay1][i % 3], i))
        .collect();
    publish_all(&producer, &history).await;
    stack.caught_up().await;
    assert_eq!(rows_of(&stack.pools[0], mover).await.0, 200);

    // Traffic continues through the whole move.
    let stop = Arc::new(AtomicBool::new(false));
    let (load, loader) = start_load(
        EventProducer::new(&stack.topics.options).unwrap(),
        mover,
        stay0,
        stop.clone(),
    );
    let count = |n: usize| {
        let load = load.clone();
        move || {
            let load = load.clone();
            async move { (load.lock().unwrap().len() >= n).then_some(()) }
        }
    };
    wait_for("load before the move", Duration::from_secs(30), count(200)).await;
    let began = Instant::now();
    let report = moves::move_tenant(&stack.setup(), mover, 1).await.unwrap();
    let took = began.elapsed();
    let during = load.lock().unwrap().len();
    wait_for(
        "load after the move",
        Duration::from_secs(30),
        count(during + 200),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    loader.await.unwrap();
    // A producer retry of records counted before the move: they count once, in the target.
    let retried: Vec<Event> = history.iter().take(60).cloned().collect();
    publish_all(&producer, &retried).await;
    stack.caught_up().await;

    let mut events = history.clone();
    events.extend(load.lock().unwrap().iter().cloned());
    events.extend(retried);
    let moved: i64 = report.moved.values().sum();
    eprintln!(
        "move under load: {moved} records moved in {took:?}; {} load events published while it ran",
        during
    );
    assert_eq!(report.from_shard, 0);
    assert_eq!(report.to_shard, 1);
    assert!(!report.resumed);
    assert!(
        moved >= 200,
        "at least the history before the load moved: {report:?}"
    );

    // The target holds exactly what the log says, once; the source holds nothing of it.
    let want = log_totals(&events, mover);
    let target = rows_of(&stack.pools[1], mover).await;
    assert_eq!((target.0, target.1, target.2), want);
    assert_eq!(rows_of(&stack.pools[0], mover).await, (0, 0, 0, 0));
    let (queries, cost) = monthly_totals(&stack.pools[1], mover).await;
    assert_eq!((queries, cost), (want.1 / 1000, want.2));
    let mut tx = trestle_store::begin_for_tenant(&stack.pools[1], mover)
        .await
        .unwrap();
    let tier: Option<String> = sqlx::query_scalar("SELECT tier FROM company_tiers")
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        tier.as_deref(),
        Some("premium"),
        "its billing row moved too"
    );
    // Bystanders are untouched, each whole in its own shard.
    for (company, shard) in [(stay0, 0usize), (stay1, 1usize)] {
        let want = log_totals(&events, company);
        let got = rows_of(&stack.pools[shard], company).await;
        assert_eq!((got.0, got.1, got.2), want, "bystander {company}");
        assert_eq!(rows_of(&stack.pools[1 - shard], company).await.0, 0);
    }
    // The decisions say the target for every record, so a rebuild keeps them there.
    let control = trestle_store::connect(&stack.control.options)
        .await
        .unwrap();
    let shards: Vec<i32> =
        sqlx::query_scalar("SELECT DISTINCT shard FROM usage_shard_epochs WHERE company_id = $1")
            .bind(mover)
            .fetch_all(&control)
            .await
            .unwrap();
    assert_eq!(shards, vec![1]);
    control.close().await;
    // The log tells the story: started, re-provisioned to 1 (the cut-over), moved.
    let tenants_log = read_topic(
        &stack.topics.options,
        &stack.topics.topic("tenants"),
        tenants.len() + 3,
        Duration::from_secs(30),
    )
    .await;
    let story: Vec<Event> = tenants_log
        .into_iter()
        .filter_map(|r| trestle_events::decode(r.payload.as_deref()?).ok())
        .filter(|e| e.meta().company_id == mover)
        .collect();
    let started = story
        .iter()
        .find_map(|e| match e {
            Event::TenantMoveStarted(s) => Some(s.clone()),
            _ => None,
        })
        .expect("TenantMoveStarted");
    assert!(story.iter().any(|e| matches!(e,
        Event::TenantProvisioned(p) if p.database_shard == 1 && p.meta.causation_id == started.meta.event_id)));
    assert!(story.iter().any(|e| matches!(e,
        Event::TenantMoved(m) if m.move_id == started.move_id && m.usage_records == moved)));
    // Every consumer of `tenants` here (routing, billing, usage) passed over the move's own
    // events rather than dead-lettering them, and routing followed the cut-over.
    let control = trestle_store::connect(&stack.control.options)
        .await
        .unwrap();
    wait_for(
        "routing to follow the cut-over",
        Duration::from_secs(30),
        || {
            let control = control.clone();
            async move {
                let route = trestle_query::routing::lookup(&control, mover)
                    .await
                    .ok()??;
                (route.database_shard == Some(1)).then_some(())
            }
        },
    )
    .await;
    control.close().await;
    let dead = read_topic(
        &stack.topics.options,
        &stack.topics.topic("dead-letter"),
        0,
        Duration::from_secs(30),
    )
    .await;
    assert!(dead.is_empty(), "{} records dead-lettered", dead.len());
    // Moving it again finds nothing to move.
    assert!(matches!(
        moves::move_tenant(&stack.setup(), mover, 1).await,
        Err(moves::Error::NothingToMove { shard: 1, .. })
    ));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_move_continues_under_its_id_and_another_target_is_refused() {
    let company = company_defaulting_to(1);
    let tenants = vec![
        registered(company, "Interrupted", Tier::Professional, Region::Us),
        provisioned(company, 1, "gcp-us-1", Region::Us),
    ];
    let stack = Stack::start("move_resume", 2, &tenants).await;
    let producer = EventProducer::new(&stack.topics.options).unwrap();
    let history: Vec<Event> = (0..150).map(|i| usage_of(company, i)).collect();
    publish_all(&producer, &history).await;
    stack.caught_up().await;
    // A move to shard 0 that stopped right after it started.
    let meta = Meta::root(company);
    let started = TenantMoveStarted {
        move_id: meta.event_id,
        meta,
        from_shard: 1,
        to_shard: 0,
        shard_count: 2,
    };
    producer
        .publish(&Event::TenantMoveStarted(started.clone()))
        .await
        .unwrap();
    assert!(matches!(
        moves::move_tenant(&stack.setup(), company, 1).await,
        Err(moves::Error::OtherMoveOpen { to_shard: 0, .. })
    ));
    // While another process runs the company's move, a second one does not start.
    let control = trestle_store::connect(&stack.control.options)
        .await
        .unwrap();
    let mut held = control.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("trestle.tenant_move:{company}"))
        .execute(&mut *held)
        .await
        .unwrap();
    assert!(matches!(
        moves::move_tenant(&stack.setup(), company, 0).await,
        Err(moves::Error::MoveRunning { .. })
    ));
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(format!("trestle.tenant_move:{company}"))
        .execute(&mut *held)
        .await
        .unwrap();
    drop(held);
    control.close().await;
    let report = moves::move_tenant(&stack.setup(), company, 0)
        .await
        .unwrap();
    assert!(report.resumed);
    assert_eq!(report.move_id, started.move_id);
    assert_eq!(report.moved, BTreeMap::from([(1, 150)]));
    stack.caught_up().await;
    let want = log_totals(&history, company);
    let got = rows_of(&stack.pools[0], company).await;
    assert_eq!((got.0, got.1, got.2), want);
    assert_eq!(rows_of(&stack.pools[1], company).await, (0, 0, 0, 0));
    let keys: BTreeSet<String> = history
        .iter()
        .filter_map(|e| match e {
            Event::UsageRecorded(UsageRecorded {
                idempotency_key, ..
            }) => Some(idempotency_key.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 150);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_gathers_a_history_split_across_shards_into_the_target() {
    // Usage before its provisioning was read goes to the default shard 0; after it, to the
    // provisioned shard 1. The move to shard 2 takes both runs there.
    let company = loop {
        let c = Uuid::now_v7();
        if trestle_projector::default_shard(c, 3) == 0 {
            break c;
        }
    };
    let stack = Stack::start(
        "move_split",
        3,
        &[registered(company, "Split", Tier::Enterprise, Region::Apac)],
    )
    .await;
    let producer = EventProducer::new(&stack.topics.options).unwrap();
    let early: Vec<Event> = (0..120).map(|i| usage_of(company, i)).collect();
    publish_all(&producer, &early).await;
    stack.caught_up().await;
    publish_in_order(
        &producer,
        &[provisioned(company, 1, "gcp-apac-1", Region::Apac)],
    )
    .await;
    stack.caught_up().await;
    let later: Vec<Event> = (0..80).map(|i| usage_of(company, i)).collect();
    publish_all(&producer, &later).await;
    stack.caught_up().await;
    assert_eq!(rows_of(&stack.pools[0], company).await.0, 120);
    assert_eq!(rows_of(&stack.pools[1], company).await.0, 80);

    let report = moves::move_tenant(&stack.setup(), company, 2)
        .await
        .unwrap();
    assert_eq!(report.from_shard, 1);
    assert_eq!(report.moved, BTreeMap::from([(0, 120), (1, 80)]));
    stack.caught_up().await;
    let mut events = early;
    events.extend(later);
    let want = log_totals(&events, company);
    let got = rows_of(&stack.pools[2], company).await;
    assert_eq!((got.0, got.1, got.2), want);
    for shard in [0, 1] {
        assert_eq!(
            rows_of(&stack.pools[shard], company).await,
            (0, 0, 0, 0),
            "shard {shard}"
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_with_jobs_is_refused_a_move_before_anything_is_published() {
    let company = company_defaulting_to(1);
    let tenants = vec![
        registered(company, "Builder with jobs", Tier::Professional, Region::Us),
        provisioned(company, 1, "gcp-us-1", Region::Us),
    ];
    let stack = Stack::start("move_jobs", 2, &tenants).await;
    stack.caught_up().await;
    // The notebook workflow's state of one job in the company's shard.
    let mut tx = trestle_store::begin_for_tenant(&stack.pools[1], company)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO jobs (company_id, job_id, name, status, tier, notebook_id, created_at)
         VALUES ($1, 'tower-a', 'Tower A', 'active', 'hot', 'nb-1', now())",
    )
    .bind(company)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let refused = moves::move_tenant(&stack.setup(), company, 0).await;
    let Err(
        error @ moves::Error::HasJobs {
            jobs: 1, shard: 1, ..
        },
    ) = refused
    else {
        panic!("expected the move refused for the company's job, got {refused:?}");
    };
    assert!(error.to_string().contains("docs/tenancy.md"), "{error}");
    // Nothing of a move is on the log: the company stays where it is.
    let tenants = read_topic(
        &stack.topics.options,
        &stack.topics.topic("tenants"),
        2,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(tenants.len(), 2, "only the registration and provisioning");
    stack.stop().await;
}
