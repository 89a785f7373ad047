//! End to end: HTTP ingest -> Kafka -> engine (real HTTP to the provider simulator, Kafka
//! transactions) -> usage topic -> projector -> Postgres, totals exact per company.

use std::time::Duration;

use trestle_testkit::{TestDb, TestTopics};

async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    (l, addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_accepted_request_is_billed_exactly_once_per_company() {
    let topics = TestTopics::create("e2e", 4).await.unwrap();
    let db = TestDb::shard("e2e").await.unwrap();

    let (sim_listener, sim_url) = listener().await;
    let sim = trestle_provider_sim::SimConfig::default();
    tokio::spawn(async move {
        trestle_provider_sim::serve(sim_listener, &sim, std::future::pending()).await
    });

    let (ingest_listener, ingest_url) = listener().await;
    let ingest = trestle_ingest::IngestConfig {
        kafka: topics.options.clone(),
        ..Default::default()
    };
    tokio::spawn(async move {
        trestle_ingest::serve(ingest_listener, &ingest, std::future::pending()).await
    });

    let mut engine = trestle_engine::EngineConfig {
        kafka: topics.options.clone(),
        group_id: topics.group("engine"),
        ..Default::default()
    };
    engine.provider.base_url = sim_url;
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
    let sent = load::drive(&ingest_url, &scenario, 32).await.unwrap();
    assert_eq!(sent.rejected, 0);
    let pool = trestle_store::connect(&db.options).await.unwrap();
    let usage = load::wait_projected(&pool, &scenario, &sent, Duration::from_secs(120))
        .await
        .unwrap();
    for (i, company) in scenario.companies.iter().enumerate() {
        assert_eq!(
            usage[i].queries(),
            sent.accepted[i] as i64,
            "company {} ({})",
            company.id,
            company.tier.name()
        );
    }
    assert_eq!(load::print_report(&scenario, &sent, &usage, 5), 0);

    drop((stop_engine, stop_projector));
    engine.await.unwrap().unwrap();
    projector.await.unwrap().unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}
