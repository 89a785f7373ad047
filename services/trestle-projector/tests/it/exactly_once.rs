//! Usage is never counted twice or lost: folding, re-publication, SIGKILL mid-run.

use std::time::Duration;

use trestle_events::{Event, Meter};
use trestle_kafka::EventProducer;
use trestle_projector::ProjectorConfig;
use trestle_testkit::{ChildGuard, TestDb, TestTopics};
use uuid::Uuid;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn folds_usage_into_daily_and_monthly_rows_per_meter() {
    let topics = TestTopics::create("fold", 3).await.unwrap();
    let db = TestDb::shard("fold").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let events = vec![
        usage(a, Uuid::now_v7(), Meter::GeminiFlashQueries, 1000, 100),
        usage(a, Uuid::now_v7(), Meter::GeminiProQueries, 1000, 2000),
        usage(a, Uuid::now_v7(), Meter::SpeechMinutes, 2500, 40000),
        usage(b, Uuid::now_v7(), Meter::NotebooklmQueries, 1000, 5000),
        usage(b, Uuid::now_v7(), Meter::TtsCharacters, 120_000, 480),
    ];
    publish_all(&producer, &events).await;
    let (stop, handle) = spawn(config(&topics, &db));
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, Duration::from_secs(60)).await;

    let mut tx = trestle_store::begin_for_tenant(&pool, a).await.unwrap();
    let rows: Vec<(String, i64, i64, String, i64)> = sqlx::query_as(
        "SELECT period_type, gemini_flash_queries, gemini_pro_queries, speech_minutes::text,
                total_cost_micro_usd
           FROM company_ai_usage ORDER BY period_type",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    drop(tx);
    assert_eq!(
        rows,
        vec![
            ("daily".into(), 1, 1, "2.500".into(), 42_100),
            ("monthly".into(), 1, 1, "2.500".into(), 42_100),
        ]
    );
    assert_eq!(monthly_totals(&pool, b).await, (1, 5_480));

    drop(stop);
    handle.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn republished_usage_is_counted_once() {
    let run = Published::new("republish", 3, 20, 2_000).await;
    let (topics, db, events) = (&run.topics, &run.db, &run.events);
    // A retrying upstream producer (a new producer id) sends the same usage again, twice:
    // same idempotency keys, fresh event ids.
    for _ in 0..2 {
        let again = EventProducer::new(&topics.options).unwrap();
        let copies: Vec<Event> = events
            .iter()
            .cloned()
            .map(|mut e| {
                e.meta_mut().event_id = Uuid::now_v7();
                e
            })
            .collect();
        publish_all(&again, &copies).await;
    }

    let (stop, handle) = spawn(config(topics, db));
    wait_caught_up(topics, &run.pool, Duration::from_secs(120)).await;
    assert_totals(&run.pool, &run.want).await;

    drop(stop);
    handle.await.unwrap();
    run.cleanup().await;
}

fn start_projector(topics: &TestTopics, db: &TestDb) -> ChildGuard {
    crate::support::start_projector_binary(topics, db, "usage", "projector-under-test", 200)
}

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

#[tokio::test(flavor = "multi_thread")]
async fn resumes_after_sigkill_without_double_counting() {
    let run = Published::new("sigkill", 4, 200, 100_000).await;
    let (topics, db, pool, events) = (&run.topics, &run.db, &run.pool, &run.events);
    let topic = topics.topic("usage");

    let mut kills = 0;
    let mut child = start_projector(topics, db);
    while kills < 20 {
        // Kill mid-run: after it has made progress since the last start, at a random moment.
        let before = applied(pool, &topic).await;
        trestle_testkit::wait_for("projector progress", Duration::from_secs(60), || async {
            (applied(pool, &topic).await > before).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..150))).await;
        if applied(pool, &topic).await >= events.len() as i64 {
            break; // finished before we could kill it again
        }
        child.kill();
        kills += 1;
        child = start_projector(topics, db);
    }
    assert_eq!(
        kills, 20,
        "the projector finished before it was killed 20 times"
    );
    wait_caught_up(topics, pool, Duration::from_secs(120)).await;
    child.kill();

    assert_totals(pool, &run.want).await;
    let mut counted = 0i64;
    for company in &run.companies {
        counted += monthly_totals(pool, *company).await.0;
    }
    assert_eq!(counted, events.len() as i64);

    run.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_and_rebalances_keep_totals_exact() {
    let run = Published::new("two_projectors", 6, 200, 20_000).await;
    let (topics, db, pool) = (&run.topics, &run.db, &run.pool);
    let topic = topics.topic("usage");
    let small_batches = || ProjectorConfig {
        batch_max_records: 100,
        ..config(topics, db)
    };

    let (stop_a, a) = spawn(small_batches());
    let progressed = |floor: i64| {
        let pool = pool.clone();
        let topic = topic.clone();
        async move {
            trestle_testkit::wait_for("projector progress", Duration::from_secs(60), || async {
                (applied(&pool, &topic).await > floor).then_some(())
            })
            .await
        }
    };
    progressed(0).await;
    // A second instance joins: the partitions are split between the two (a rebalance).
    let (stop_b, b) = spawn(small_batches());
    progressed(applied(pool, &topic).await).await;
    // The first leaves mid-run: its partitions move to the second (another rebalance).
    drop(stop_a);
    a.await.unwrap();
    wait_caught_up(topics, pool, Duration::from_secs(120)).await;
    assert_totals(pool, &run.want).await;

    drop(stop_b);
    b.await.unwrap();
    run.cleanup().await;
}
