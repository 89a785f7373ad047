//! End to end: companies registered through ingest's admin API and provisioned by the
//! onboarding workflow, then HTTP ingest -> Kafka -> engine (real HTTP to the provider
//! simulator, Kafka transactions, the ladder on real Redis) -> outcomes and usage topics ->
//! projector -> Postgres: one outcome per accepted request, billed usage exact per company.
//! Ingest and the engine refuse unprovisioned companies (their defaults).

use std::time::Duration;

use trestle_events::Region;
use trestle_testkit::{TestDb, TestTopics};

async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    (l, addr)
}

/// Waits until `url` answers (the admin listener is served once ingest has read `tenants`).
async fn wait_http(url: &str) {
    let client = reqwest::Client::new();
    trestle_testkit::wait_for("ingest's admin listener", Duration::from_secs(60), || {
        let request = client.get(url).send();
        async move {
            request
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_accepted_request_gets_one_outcome_and_every_answer_is_billed_exactly_once() {
    let topics = TestTopics::create("e2e", 4).await.unwrap();
    let db = TestDb::shard("e2e").await.unwrap();
    let control = TestDb::control("e2e").await.unwrap();

    let (sim_listener, sim_url) = listener().await;
    let sim = trestle_provider_sim::SimConfig::default();
    tokio::spawn(async move {
        trestle_provider_sim::serve(sim_listener, &sim, std::future::pending()).await
    });

    let (ingest_listener, ingest_url) = listener().await;
    let (admin_listener, admin_url) = listener().await;
    let secret = "load-e2e-hs256-secret";
    let tokens = load::Tokens::new(secret);
    let mut ingest = trestle_ingest::IngestConfig {
        kafka: topics.options.clone(),
        ..Default::default()
    };
    ingest.auth.hs256_secret = secret.into();
    let listeners = trestle_ingest::Listeners {
        api: ingest_listener,
        admin: admin_listener,
    };
    tokio::spawn(
        async move { trestle_ingest::serve(listeners, &ingest, std::future::pending()).await },
    );

    let mut engine = trestle_engine::EngineConfig {
        kafka: topics.options.clone(),
        group_id: topics.group("engine"),
        ..Default::default()
    };
    engine.provider.base_url = sim_url;
    // The real ladder and limits, on this test's own Redis keys.
    let prefix = format!("{}:", trestle_testkit::unique("e2e"));
    engine.redis.redis_url = trestle_testkit::redis_url();
    engine.redis.key_prefix = prefix;
    let (stop_engine, engine_stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(trestle_engine::run(engine, async {
        let _ = engine_stopped.await;
    }));

    let projector = trestle_projector::ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group("projector"),
        ..Default::default()
    };
    let (stop_projector, projector_stopped) = tokio::sync::oneshot::channel::<()>();
    let projector = tokio::spawn(trestle_projector::run(projector, async {
        let _ = projector_stopped.await;
    }));

    // Onboarding, with one cloud project per region in the pool (folded by the pool
    // projection, which onboarding reads its load from).
    let pool_projector = trestle_projector::ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: control.options.clone(),
        group_id: topics.group("pool"),
        projection: trestle_projector::ProjectionKind::Pool,
        batch_max_wait_ms: 20,
        ..Default::default()
    };
    let (stop_pool, pool_stopped) = tokio::sync::oneshot::channel::<()>();
    let pool_projector = tokio::spawn(trestle_projector::run(pool_projector, async {
        let _ = pool_stopped.await;
    }));
    let producer = trestle_kafka::EventProducer::new(&topics.options).unwrap();
    let projects: Vec<trestle_events::Event> = ["us", "eu", "apac"]
        .into_iter()
        .zip([Region::Us, Region::Eu, Region::Apac])
        .map(|(name, region)| {
            trestle_events::Event::CloudProjectRegistered(trestle_events::CloudProjectRegistered {
                meta: trestle_events::Meta::platform(),
                cloud_project_id: format!("e2e-{name}"),
                region,
                notebook_limit: 50_000,
                dedicated_company_id: None,
            })
        })
        .collect();
    producer.publish_all(&projects).await.unwrap();
    let onboarding = trestle_onboarding::OnboardingConfig {
        kafka: topics.options.clone(),
        postgres: control.options.clone(),
        group_id: topics.group("onboarding"),
        commit_interval_ms: 20,
        retry_max_delay_ms: 200,
        ..Default::default()
    };
    let (stop_onboarding, onboarding_stopped) = tokio::sync::oneshot::channel::<()>();
    let onboarding = tokio::spawn(trestle_onboarding::run(onboarding, async {
        let _ = onboarding_stopped.await;
    }));

    let mut scenario = load::Scenario::mixed(40, 600, 11);
    wait_http(&format!("{admin_url}/healthz")).await;
    load::register_via_api(&admin_url, &mut scenario, &tokens)
        .await
        .unwrap();
    let wait = Duration::from_secs(120);
    let placed = load::wait_provisioned(&topics.options, &scenario, wait)
        .await
        .unwrap();
    assert_eq!(placed.len(), scenario.companies.len());
    for p in &placed {
        let expected = if p.dedicated {
            "dedicated-".to_string()
        } else {
            format!("e2e-{}", p.region)
        };
        assert!(
            p.project.starts_with(&expected),
            "a {} company landed on {}",
            p.region,
            p.project
        );
    }
    let from = load::outcomes_end(&topics.options).unwrap();
    let sent = load::drive(&ingest_url, &scenario, 32, &tokens)
        .await
        .unwrap();
    assert_eq!(sent.rejected, 0);
    let accepted: u64 = sent.accepted.iter().sum();
    let outcomes = load::read_outcomes(&topics.options, &scenario, &from, accepted, wait)
        .await
        .unwrap();
    let pool = trestle_store::connect(&db.options).await.unwrap();
    let usage = load::wait_projected(&pool, &scenario, &outcomes, wait)
        .await
        .unwrap();
    for (i, company) in scenario.companies.iter().enumerate() {
        assert_eq!(
            outcomes[i].total(),
            sent.accepted[i],
            "company {} ({}): one outcome per accepted request",
            company.id,
            company.tier
        );
        assert_eq!(
            usage[i].queries(),
            outcomes[i].answered as i64,
            "company {} ({}): every answer billed once, nothing else",
            company.id,
            company.tier
        );
    }
    // 600 requests in about a second is far over every tier's rate: the ladder must have acted.
    let throttled: u64 = outcomes.iter().map(|o| o.throttled + o.from_cache).sum();
    assert!(throttled > 0, "no request met the rate limit");
    assert_eq!(
        load::print_report(&scenario, &sent, &outcomes, &usage, 5),
        0
    );

    drop((stop_engine, stop_projector, stop_onboarding, stop_pool));
    engine.await.unwrap().unwrap();
    projector.await.unwrap().unwrap();
    onboarding.await.unwrap().unwrap();
    pool_projector.await.unwrap().unwrap();
    pool.close().await;
    db.drop_db().await;
    control.drop_db().await;
    topics.delete().await;
}
