//! Shared helpers: publishing usage, running the projector, reading totals.

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_events::{Event, Meter};
use trestle_kafka::EventProducer;
use trestle_projector::ProjectorConfig;
use trestle_testkit::{ChildGuard, TestDb, TestTopics};
use uuid::Uuid;

pub(crate) use trestle_testkit::fixtures::{publish_all, usage};

/// Projector config for a test's topics and database.
pub(crate) fn config(topics: &TestTopics, db: &TestDb) -> ProjectorConfig {
    ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group("projector"),
        ..ProjectorConfig::default()
    }
}

/// Starts the projector in this process; dropping the sender stops it.
pub(crate) fn spawn(
    config: ProjectorConfig,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        trestle_projector::run(config, async {
            let _ = stopped.await;
        })
        .await
        .expect("projector runs");
    });
    (stop, handle)
}

/// Waits until the projector's stored offsets reach the usage topic's end on every partition.
pub(crate) async fn wait_caught_up(topics: &TestTopics, pool: &sqlx::PgPool, timeout: Duration) {
    wait_topic_caught_up(topics, pool, "usage", timeout).await
}

/// Waits until the projector writing to `pool` has stored offsets at the end of every
/// partition of the logical topic.
pub(crate) async fn wait_topic_caught_up(
    topics: &TestTopics,
    pool: &sqlx::PgPool,
    logical: &str,
    timeout: Duration,
) {
    let topic = topics.topic(logical);
    let end = trestle_testkit::end_offsets(&topics.options, &topic).unwrap();
    trestle_testkit::wait_for(
        &format!("the projector to reach the end of {logical}"),
        timeout,
        || {
            let end = end.clone();
            let topic = topic.clone();
            async move {
                let stored: Vec<(i32, i64)> = sqlx::query_as(
                    "SELECT partition, next_offset FROM projector_offsets WHERE topic = $1",
                )
                .bind(&topic)
                .fetch_all(pool)
                .await
                .ok()?;
                let stored: BTreeMap<i32, i64> = stored.into_iter().collect();
                end.iter()
                    .all(|(p, high)| *high == 0 || stored.get(p).copied().unwrap_or(0) >= *high)
                    .then_some(())
            }
        },
    )
    .await
}

/// Starts the `trestle-projector` binary (so a test can SIGKILL it) running `projection`, as
/// the static group member `member` (a restart takes its partitions back at once instead of
/// waiting for the killed member's session to time out), `batch` records per transaction.
pub(crate) fn start_projector_binary(
    topics: &TestTopics,
    db: &TestDb,
    projection: &str,
    member: &str,
    batch: usize,
) -> ChildGuard {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_trestle-projector"))
        .env(
            "TRESTLE_KAFKA__BOOTSTRAP_SERVERS",
            &topics.options.bootstrap_servers,
        )
        .env("TRESTLE_KAFKA__TOPIC_PREFIX", &topics.options.topic_prefix)
        .env("TRESTLE_KAFKA__LIBRDKAFKA__group.instance.id", member)
        .env("TRESTLE_POSTGRES__URL", &db.options.url)
        .env("TRESTLE_POSTGRES__OWNER_URL", &db.options.owner_url)
        .env("TRESTLE_GROUP_ID", topics.group(member))
        .env("TRESTLE_PROJECTION", projection)
        .env("TRESTLE_BATCH_MAX_RECORDS", batch.to_string())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start trestle-projector");
    ChildGuard(child)
}

/// A company's monthly totals: (all query meters, total cost micro-USD), read as that tenant.
pub(crate) async fn monthly_totals(pool: &sqlx::PgPool, company: Uuid) -> (i64, i64) {
    let mut tx = trestle_store::begin_for_tenant(pool, company)
        .await
        .unwrap();
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT (notebooklm_queries + gemini_flash_queries + gemini_pro_queries)::int8,
                total_cost_micro_usd
           FROM company_ai_usage WHERE company_id = $1 AND period_type = 'monthly'",
    )
    .bind(company)
    .fetch_optional(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    row.unwrap_or((0, 0))
}

/// `n` requests spread over `companies`, one gemini-flash query each (cost 100).
pub(crate) fn workload(companies: &[Uuid], n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            usage(
                companies[i % companies.len()],
                Uuid::now_v7(),
                Meter::GeminiFlashQueries,
                1000,
                100,
            )
        })
        .collect()
}

/// The expected (queries, cost) per company of a workload.
pub(crate) fn expected(events: &[Event]) -> BTreeMap<Uuid, (i64, i64)> {
    let mut totals = BTreeMap::new();
    for e in events {
        if let Event::UsageRecorded(u) = e {
            let t = totals.entry(u.meta.company_id).or_insert((0, 0));
            t.0 += u.quantity_milli / 1000;
            t.1 += u.cost_micro_usd;
        }
    }
    totals
}

/// Asserts every company's monthly totals equal the expectation.
pub(crate) async fn assert_totals(pool: &sqlx::PgPool, expected: &BTreeMap<Uuid, (i64, i64)>) {
    for (company, want) in expected {
        assert_eq!(
            monthly_totals(pool, *company).await,
            *want,
            "company {company}"
        );
    }
}

/// A test's own topics and shard database, with a uniform workload already published.
pub(crate) struct Published {
    pub topics: TestTopics,
    pub db: TestDb,
    pub pool: sqlx::PgPool,
    pub companies: Vec<Uuid>,
    pub events: Vec<Event>,
    /// Expected (queries, cost) per company.
    pub want: BTreeMap<Uuid, (i64, i64)>,
}

impl Published {
    /// `events` gemini-flash usage events from `companies` companies on `partitions` partitions.
    pub(crate) async fn new(test: &str, partitions: i32, companies: usize, events: usize) -> Self {
        let topics = TestTopics::create(test, partitions).await.unwrap();
        let db = TestDb::shard(test).await.unwrap();
        let companies: Vec<Uuid> = (0..companies).map(|_| Uuid::now_v7()).collect();
        let events = workload(&companies, events);
        let want = expected(&events);
        let producer = EventProducer::new(&topics.options).unwrap();
        publish_all(&producer, &events).await;
        let pool = trestle_store::connect(&db.options).await.unwrap();
        Published {
            topics,
            db,
            pool,
            companies,
            events,
            want,
        }
    }

    /// Drops the database and the topics (call at the end of a passing test).
    pub(crate) async fn cleanup(self) {
        self.pool.close().await;
        self.db.drop_db().await;
        self.topics.delete().await;
    }
}
