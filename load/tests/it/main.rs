//! End to end: HTTP ingest -> Kafka -> engine (real HTTP to the provider simulator, Kafka
//! transactions, the ladder on real Redis) -> outcomes and usage topics -> projector ->
//! Postgres: one outcome per accepted request, billed usage exact per company.

use std::time::Duration;

use trestle_testkit::{TestDb, TestTopics};

async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    (l, addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_accepted_request_gets_one_outcome_and_every_answer_is_billed_exactly_once() {
    let topics = TestTopics::create("e2e", 4).await.unwrap();
    let db = TestDb::shard("e2e").await.unwrap();

    let (sim_listener, sim_url) = listener().await;
    let sim = trestle_provider_sim::SimConfig::default();
    tokio::spawn(async move {
        trestle_provider_sim::serve(sim_listener, &sim, std::future::pending()).await
    });

    let (ingest_listener, ingest_url) = listener().await;
    let (admin_listener, _) = listener().await;
    let ingest = trestle_ingest::IngestConfig {
        kafka: topics.options.clone(),
        // trestle-load registers its companies but this test runs no onboarding (load/demo
        // does).
        unprovisioned: trestle_ingest::Unprovisioned::Accept,
        ..Default::default()
    };
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
        // trestle-load registers its companies but does not run onboarding.
        unprovisioned: trestle_engine::Unprovisioned::ServeAsStarter,
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

    let scenario = load::Scenario::mixed(40, 600, 11);
    load::register_companies(&topics.options, &scenario)
        .await
        .unwrap();
    let from = load::outcomes_end(&topics.options).unwrap();
    let sent = load::drive(&ingest_url, &scenario, 32).await.unwrap();
    assert_eq!(sent.rejected, 0);
    let accepted: u64 = sent.accepted.iter().sum();
    let wait = Duration::from_secs(120);
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

    drop((stop_engine, stop_projector));
    engine.await.unwrap().unwrap();
    projector.await.unwrap().unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}
