//! Shard health: per-shard counts, error rates and latency percentiles from the log, sliding
//! windows, pruning, and no double counting across projector restarts.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use trestle_events::{
    AiRequestCompleted, AiRequestFailed, AiRequestServedFromCache, AiRequestThrottled, Event,
    IsolationLevel, Meta, Region, TenantProvisioned, ThrottleReason, Tier,
};
use trestle_kafka::EventProducer;
use trestle_projector::health::RETENTION;
use trestle_projector::{ProjectionKind, ProjectorConfig};
use trestle_query::health::{self, minute_of, ShardHealth, Sketch, UNASSIGNED_SHARD};
use trestle_testkit::fixtures;
use trestle_testkit::{ChildGuard, TestDb, TestTopics};
use uuid::Uuid;

use crate::support::{publish_all, spawn};

fn meta(company: Uuid, at: DateTime<Utc>) -> Meta {
    Meta {
        occurred_at: at,
        ..Meta::root(company)
    }
}

fn provisioned(company: Uuid, shard: i32) -> Event {
    Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Us,
        database_shard: shard,
        cloud_project_id: "proj-1".into(),
        isolation_level: IsolationLevel::Shared,
        kb_notebook_id: "kb-1".into(),
    })
}

fn registered(company: Uuid) -> Event {
    Event::CompanyRegistered(fixtures::registered(company, Tier::Starter, Region::Us))
}

fn completed(company: Uuid, at: DateTime<Utc>, latency_ms: i64) -> Event {
    Event::AiRequestCompleted(AiRequestCompleted {
        meta: meta(company, at),
        request_id: Uuid::now_v7(),
        provider: "gemini".into(),
        model: "gemini-2.5-flash".into(),
        cloud_project_id: None,
        latency_ms,
        degraded: false,
        answer: "ok".into(),
        input_tokens: 10,
        output_tokens: 10,
        cost_micro_usd: 100,
        answer_path: trestle_events::AnswerPath::Chat,
        cited_document_ids: vec![],
    })
}

fn failed(company: Uuid, at: DateTime<Utc>) -> Event {
    Event::AiRequestFailed(AiRequestFailed {
        meta: meta(company, at),
        request_id: Uuid::now_v7(),
        reason: "provider timed out".into(),
        providers_tried: vec!["gemini".into(), "openai".into()],
        retryable: true,
    })
}

fn throttled(company: Uuid, at: DateTime<Utc>) -> Event {
    Event::AiRequestThrottled(AiRequestThrottled {
        meta: meta(company, at),
        request_id: Uuid::now_v7(),
        reason: ThrottleReason::RateLimit,
        limit: "10 requests per minute".into(),
        retry_after_ms: Some(1000),
    })
}

fn cached(company: Uuid, at: DateTime<Utc>, limited_notice: bool) -> Event {
    Event::AiRequestServedFromCache(AiRequestServedFromCache {
        meta: meta(company, at),
        request_id: Uuid::now_v7(),
        cached_at: at,
        limited_notice,
        answer: "cached".into(),
    })
}

fn config(topics: &TestTopics, db: &TestDb) -> ProjectorConfig {
    ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group("shard-health"),
        projection: ProjectionKind::ShardHealth,
        ..ProjectorConfig::default()
    }
}

/// Records of a topic the projector has applied (sum of its stored next offsets).
async fn applied(pool: &sqlx::PgPool, topic: &str) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT sum(next_offset)::int8 FROM projector_offsets WHERE topic = $1",
    )
    .bind(topic)
    .fetch_one(pool)
    .await
    .unwrap()
    .unwrap_or(0)
}

/// Waits until the projector has applied everything published to both of its topics.
async fn wait_caught_up(topics: &TestTopics, pool: &sqlx::PgPool) {
    for logical in ["tenants", "ai-outcomes"] {
        let topic = topics.topic(logical);
        let end: i64 = trestle_testkit::end_offsets(&topics.options, &topic)
            .unwrap()
            .iter()
            .map(|(_, high)| high)
            .sum();
        trestle_testkit::wait_for(
            &format!("the projector to apply all of {logical}"),
            Duration::from_secs(120),
            || async { (applied(pool, &topic).await >= end).then_some(()) },
        )
        .await;
    }
}

/// The exact sample the sketch's quantile approximates, and the check that it does to 1 %.
fn assert_quantile(got: Option<f64>, latencies: &[i64], q: f64, what: &str) {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let want = sorted[(q * (sorted.len() - 1) as f64).floor() as usize] as f64;
    let got = got.unwrap_or_else(|| panic!("{what}: no latency"));
    assert!(
        (got - want).abs() <= 0.01 * want + 1e-9,
        "{what}: reported {got} ms, exact {want} ms"
    );
}

fn shard(report: &[ShardHealth], shard: i32) -> &ShardHealth {
    report
        .iter()
        .find(|s| s.shard == shard)
        .unwrap_or_else(|| panic!("shard {shard} missing from {report:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_each_shards_companies_requests_errors_and_latency_percentiles() {
    let topics = TestTopics::create("health_report", 2).await.unwrap();
    let db = TestDb::control("health_report").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (a1, a2, b1) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (only_registered, unknown) = (Uuid::now_v7(), Uuid::now_v7());
    publish_all(
        &producer,
        &[
            registered(a1),
            provisioned(a1, 0),
            provisioned(a2, 0),
            registered(b1),
            provisioned(b1, 1),
            registered(only_registered),
        ],
    )
    .await;
    let (stop, handle) = spawn(config(&topics, &db));
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool).await;

    let now = Utc::now();
    let (t1, t2) = (
        minute_of(now) - TimeDelta::minutes(3) + TimeDelta::seconds(5),
        minute_of(now) - TimeDelta::minutes(2) + TimeDelta::seconds(59),
    );
    let mut events = Vec::new();
    // Shard 0: 2,000 answers of 1..=2000 ms over two companies and two minutes; 40 failures,
    // 60 throttled, 20 cached of which 5 because every provider was down.
    let shard0: Vec<i64> = (1..=2000).collect();
    for &l in &shard0 {
        let (company, at) = if l % 2 == 0 { (a1, t1) } else { (a2, t2) };
        events.push(completed(company, at, l));
    }
    events.extend((0..40).map(|_| failed(a1, t2)));
    events.extend((0..60).map(|_| throttled(a2, t1)));
    events.extend((0..15).map(|_| cached(a1, t1, false)));
    events.extend((0..5).map(|_| cached(a2, t2, true)));
    // Shard 1: skewed, 900 fast answers and a slow tail of 100; 10 failures.
    let shard1: Vec<i64> = (0..1000)
        .map(|i| {
            if i < 900 {
                10 + i % 50
            } else {
                3000 + (i - 900) * 20
            }
        })
        .collect();
    events.extend(shard1.iter().map(|&l| completed(b1, t1, l)));
    events.extend((0..10).map(|_| failed(b1, t2)));
    // Unprovisioned companies count under the unassigned shard.
    events.extend((0..7).map(|_| completed(only_registered, t1, 100)));
    events.extend((0..3).map(|_| failed(unknown, t2)));
    publish_all(&producer, &events).await;
    wait_caught_up(&topics, &pool).await;

    let report = health::report(&pool, now, &[5, 60]).await.unwrap();
    assert_eq!(
        report.iter().map(|s| s.shard).collect::<Vec<_>>(),
        vec![UNASSIGNED_SHARD, 0, 1]
    );

    let s0 = shard(&report, 0);
    assert_eq!(s0.companies, 2);
    for w in &s0.windows {
        assert_eq!(
            (
                w.requests,
                w.completed,
                w.failed,
                w.throttled,
                w.cached,
                w.limited
            ),
            (2120, 2000, 40, 60, 20, 5)
        );
        assert_eq!(w.requests_per_minute, 2120.0 / f64::from(w.minutes));
        assert_eq!(w.error_rate, Some(45.0 / 2060.0), "throttled left out");
        assert_quantile(w.p50_ms, &shard0, 0.5, "shard 0 p50");
        assert_quantile(w.p99_ms, &shard0, 0.99, "shard 0 p99");
    }

    let s1 = shard(&report, 1);
    assert_eq!(s1.companies, 1);
    let w = &s1.windows[0];
    assert_eq!((w.requests, w.failed), (1010, 10));
    assert_eq!(w.error_rate, Some(10.0 / 1010.0));
    assert_quantile(w.p50_ms, &shard1, 0.5, "shard 1 p50");
    assert_quantile(w.p99_ms, &shard1, 0.99, "shard 1 p99");
    assert!(w.p99_ms.unwrap() > 4000.0 && w.p50_ms.unwrap() < 60.0);

    let unassigned = shard(&report, UNASSIGNED_SHARD);
    assert_eq!(unassigned.companies, 1, "registered, not provisioned");
    let w = &unassigned.windows[0];
    assert_eq!((w.requests, w.completed, w.failed), (10, 7, 3));
    assert_eq!(w.p50_ms, Some(100.0));

    let table = health::render(&report);
    assert!(table.contains("unassigned"), "{table}");
    assert_eq!(table.lines().count(), 1 + 3 * 2, "{table}");

    drop(stop);
    handle.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn windows_exclude_older_minutes_and_day_old_minutes_are_dropped() {
    let topics = TestTopics::create("health_windows", 1).await.unwrap();
    let db = TestDb::control("health_windows").await.unwrap();
    let pool = trestle_store::connect(&db.options).await.unwrap();
    let now = Utc::now();
    // A row left from long ago: the projector prunes it.
    let stale = minute_of(now) - TimeDelta::hours(30);
    sqlx::query(
        "INSERT INTO shard_health_minutes (database_shard, minute, requests, failed)
         VALUES (3, $1, 1, 1)",
    )
    .bind(stale)
    .execute(&pool)
    .await
    .unwrap();

    let producer = EventProducer::new(&topics.options).unwrap();
    let company = Uuid::now_v7();
    let ago = |minutes: i64| minute_of(now) - TimeDelta::minutes(minutes);
    let mut events = vec![provisioned(company, 3)];
    events.extend((0..3).map(|_| completed(company, ago(2), 100)));
    events.extend((0..2).map(|_| completed(company, ago(30), 1000)));
    events.push(failed(company, ago(30)));
    events.push(completed(company, ago(25 * 60), 5)); // older than the retention
    events.push(completed(company, now, 7)); // the current minute: not complete yet
    publish_all(&producer, &events).await;
    let (stop, handle) = spawn(config(&topics, &db));
    wait_caught_up(&topics, &pool).await;

    let report = health::report(&pool, now, &[5, 60]).await.unwrap();
    let s = shard(&report, 3);
    let (five, hour) = (&s.windows[0], &s.windows[1]);
    assert_eq!((five.minutes, five.requests, five.failed), (5, 3, 0));
    assert_eq!(five.p99_ms, Some(100.0));
    assert_eq!((hour.minutes, hour.requests, hour.failed), (60, 6, 1));
    assert_quantile(hour.p99_ms, &[100, 100, 100, 1000, 1000], 0.99, "hour p99");
    assert_eq!(hour.error_rate, Some(1.0 / 6.0));
    // The current minute shows once it is complete.
    let later = health::report(&pool, now + TimeDelta::minutes(1), &[5])
        .await
        .unwrap();
    assert_eq!(shard(&later, 3).windows[0].requests, 4);

    let old: i64 =
        sqlx::query_scalar("SELECT count(*) FROM shard_health_minutes WHERE minute < $1")
            .bind(minute_of(now) - RETENTION)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        old, 0,
        "minutes older than a day are neither written nor kept"
    );

    drop(stop);
    handle.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

fn start_projector(topics: &TestTopics, db: &TestDb) -> ChildGuard {
    crate::support::start_projector_binary(
        topics,
        db,
        "shard_health",
        "shard-health-under-test",
        25,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_neither_double_counts_nor_loses_outcomes() {
    let topics = TestTopics::create("health_sigkill", 2).await.unwrap();
    let db = TestDb::control("health_sigkill").await.unwrap();
    let pool = trestle_store::connect(&db.options).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let companies: Vec<(Uuid, i32)> = (0..6).map(|i| (Uuid::now_v7(), i % 2)).collect();
    let tenants: Vec<Event> = companies.iter().map(|(c, s)| provisioned(*c, *s)).collect();
    publish_all(&producer, &tenants).await;
    let mut child = start_projector(&topics, &db);
    wait_caught_up(&topics, &pool).await;

    // Many minutes' worth of answers and failures; the exact sketch of each shard's latencies.
    let now = Utc::now();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut want: BTreeMap<i32, (Sketch, i64)> = BTreeMap::new();
    let mut events = Vec::new();
    for i in 0..20_000 {
        let (company, shard) = companies[i % companies.len()];
        let at = minute_of(now) - TimeDelta::minutes(1 + rng.i64(0..10));
        let entry = want.entry(shard).or_default();
        if i % 25 == 0 {
            entry.1 += 1;
            events.push(failed(company, at));
        } else {
            let latency = rng.i64(5..(if i % 50 == 1 { 20_000 } else { 900 }));
            entry.0.add(latency as f64);
            events.push(completed(company, at, latency));
        }
    }
    publish_all(&producer, &events).await;

    let topic = topics.topic("ai-outcomes");
    let mut kills = 0;
    while kills < 10 {
        let before = applied(&pool, &topic).await;
        trestle_testkit::wait_for("projector progress", Duration::from_secs(60), || async {
            (applied(&pool, &topic).await > before).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..100))).await;
        if applied(&pool, &topic).await >= events.len() as i64 {
            break;
        }
        child.kill();
        kills += 1;
        child = start_projector(&topics, &db);
    }
    assert_eq!(
        kills, 10,
        "the projector finished before it was killed 10 times"
    );
    wait_caught_up(&topics, &pool).await;
    child.kill();

    let report = health::report(&pool, now, &[60]).await.unwrap();
    for (shard_no, (sketch, failures)) in &want {
        let w = &shard(&report, *shard_no).windows[0];
        assert_eq!(w.failed, *failures, "shard {shard_no} failures");
        assert_eq!(
            w.completed,
            sketch.count() as i64,
            "shard {shard_no} answers"
        );
        // Merging is exact, so the stored minutes merge into the very sketch of every latency
        // published: any outcome counted twice or lost would show.
        assert_eq!(&w.latency, sketch, "shard {shard_no} latency sketch");
    }

    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}
