//! The ai_requests projection: one row per request, folded from its submission and each kind of
//! outcome (and reroutes); an outcome read before its submission, or an older one read after a
//! newer, folds the same row; a SIGKILL mid-run neither loses nor duplicates a request; a
//! retention expiry deletes the company's older requests only; one tenant cannot read
//! another's through `trestle_query::ai_requests`; and a waiter wakes on the projector's commit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use trestle_events::*;
use trestle_kafka::EventProducer;
use trestle_projector::{ProjectionKind, ProjectorConfig};
use trestle_query::ai_requests::{self, AiRequest, Waiter};
use trestle_testkit::fixtures::{at, publish_all, publish_in_order};
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::{spawn, start_projector_binary, wait_topic_caught_up};

/// One test's world: topics, a shard database, an ai_requests projector (unless told not to).
struct World {
    topics: TestTopics,
    db: TestDb,
    pool: sqlx::PgPool,
    producer: EventProducer,
}

impl World {
    async fn new(test: &str, partitions: i32) -> World {
        let topics = TestTopics::create(test, partitions).await.unwrap();
        let db = TestDb::shard(test).await.unwrap();
        let pool = trestle_store::connect(&db.options).await.unwrap();
        let producer = EventProducer::new(&topics.options).unwrap();
        World {
            topics,
            db,
            pool,
            producer,
        }
    }

    fn config(&self) -> ProjectorConfig {
        ProjectorConfig {
            kafka: self.topics.options.clone(),
            postgres: self.db.options.clone(),
            group_id: self.topics.group("ai_requests"),
            projection: ProjectionKind::AiRequests,
            batch_max_wait_ms: 20,
            ..ProjectorConfig::default()
        }
    }

    async fn caught_up(&self) {
        for logical in ["ai-requests", "ai-outcomes"] {
            wait_topic_caught_up(&self.topics, &self.pool, logical, Duration::from_secs(60)).await;
        }
    }

    async fn get(&self, company: Uuid, request: Uuid) -> Option<AiRequest> {
        ai_requests::get(&self.pool, company, request)
            .await
            .unwrap()
    }
}

/// A submission at `when` (to the microsecond, as the log holds it).
fn submitted(company: Uuid, when: DateTime<Utc>) -> AiRequestSubmitted {
    AiRequestSubmitted {
        meta: Meta {
            occurred_at: DateTime::from_timestamp_micros(when.timestamp_micros()).unwrap(),
            ..Meta::root(company)
        },
        request_id: Uuid::now_v7(),
        user_id: "u-7".into(),
        kind: AiRequestKind::NotebookQuery,
        prompt: "Which drawings show the east stair?".into(),
        ordering_key: None,
        job_id: Some("job-1".into()),
        submitted_via: "web".into(),
        document_ids: vec![],
    }
}

fn completed(s: &AiRequestSubmitted) -> Event {
    Event::AiRequestCompleted(AiRequestCompleted {
        meta: Meta::caused_by(&s.meta),
        request_id: s.request_id,
        provider: "notebooklm".into(),
        model: "notebooklm-1".into(),
        cloud_project_id: Some("us-1".into()),
        latency_ms: 420,
        degraded: false,
        answer: "Sheets A-201 and A-202.".into(),
        input_tokens: 12,
        output_tokens: 7,
        cost_micro_usd: 2_000,
        answer_path: AnswerPath::JobNotebook,
        cited_document_ids: vec!["doc-2".into(), "doc-1".into()],
    })
}

fn failed(s: &AiRequestSubmitted) -> Event {
    Event::AiRequestFailed(AiRequestFailed {
        meta: Meta::caused_by(&s.meta),
        request_id: s.request_id,
        reason: "every provider down".into(),
        providers_tried: vec!["gemini".into(), "openai".into()],
        retryable: true,
    })
}

fn throttled(s: &AiRequestSubmitted) -> Event {
    Event::AiRequestThrottled(AiRequestThrottled {
        meta: Meta::caused_by(&s.meta),
        request_id: s.request_id,
        reason: ThrottleReason::RateLimit,
        limit: "30 rpm (professional)".into(),
        retry_after_ms: Some(1_500),
    })
}

fn from_cache(s: &AiRequestSubmitted) -> Event {
    Event::AiRequestServedFromCache(AiRequestServedFromCache {
        meta: Meta::caused_by(&s.meta),
        request_id: s.request_id,
        cached_at: s.meta.occurred_at - chrono::Duration::minutes(5),
        limited_notice: true,
        answer: "cached answer".into(),
    })
}

fn rerouted(s: &AiRequestSubmitted) -> Event {
    Event::AiRequestRerouted(AiRequestRerouted {
        meta: Meta::caused_by(&s.meta),
        request_id: s.request_id,
        provider: "notebooklm".into(),
        from_cloud_project_id: "us-1".into(),
        to_cloud_project_id: "us-2".into(),
        reason: RerouteReason::Maintenance,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn each_outcome_kind_folds_into_its_requests_row() {
    let w = World::new("ai_requests_kinds", 2).await;
    let company = Uuid::now_v7();
    let now = Utc::now();
    let requests: Vec<AiRequestSubmitted> = (0..5).map(|_| submitted(company, now)).collect();
    let mut events: Vec<Event> = requests
        .iter()
        .cloned()
        .map(Event::AiRequestSubmitted)
        .collect();
    events.extend([
        rerouted(&requests[0]),
        completed(&requests[0]),
        failed(&requests[1]),
        throttled(&requests[2]),
        from_cache(&requests[3]),
    ]);
    publish_all(&w.producer, &events).await;
    let (stop, task) = spawn(w.config());
    w.caught_up().await;

    let row = |i: usize| w.get(company, requests[i].request_id);
    let done = row(0).await.expect("completed row");
    assert_eq!(done.status, "completed");
    assert_eq!(done.answer.as_deref(), Some("Sheets A-201 and A-202."));
    assert_eq!(
        (done.provider.as_deref(), done.model.as_deref()),
        (Some("notebooklm"), Some("notebooklm-1"))
    );
    assert_eq!(done.answer_path.as_deref(), Some("job_notebook"));
    assert_eq!(done.cited_document_ids, ["doc-2", "doc-1"]);
    assert_eq!(
        (done.input_tokens, done.output_tokens, done.cost_micro_usd),
        (Some(12), Some(7), Some(2_000))
    );
    assert_eq!(done.degraded, Some(false));
    assert_eq!(
        (done.kind.as_deref(), done.job_id.as_deref()),
        (Some("notebook_query"), Some("job-1"))
    );
    assert_eq!(
        (done.rerouted_to.as_deref(), done.reroute_reason.as_deref()),
        (Some("us-2"), Some("maintenance"))
    );
    assert!(done.submitted_at.is_some() && done.ended_at.is_some());
    let failed = row(1).await.unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.retryable),
        ("failed", Some(true))
    );
    assert_eq!(failed.detail.as_deref(), Some("gemini, openai"));
    let throttled = row(2).await.unwrap();
    assert_eq!(
        (throttled.status.as_str(), throttled.reason.as_deref()),
        ("throttled", Some("rate_limit"))
    );
    assert_eq!(throttled.retry_after_ms, Some(1_500));
    let cached = row(3).await.unwrap();
    assert_eq!(
        (cached.status.as_str(), cached.limited_notice),
        ("served_from_cache", Some(true))
    );
    assert_eq!(cached.answer.as_deref(), Some("cached answer"));
    let queued = row(4).await.unwrap();
    assert!(!queued.is_final() && queued.answer.is_none());
    let listed = ai_requests::recent(&w.pool, company, now - chrono::Duration::hours(1), 10);
    assert_eq!(listed.await.unwrap().len(), 5);

    drop(stop);
    task.await.unwrap();
    w.topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outcome_before_its_submission_or_an_older_one_after_a_newer_folds_the_same_row() {
    let w = World::new("ai_requests_order", 1).await;
    let (stop, task) = spawn(w.config());
    let company = Uuid::now_v7();
    let s = submitted(company, Utc::now());
    // A retry's answer (completed) is newer than the first attempt's throttling, which is
    // published after it.
    let first = at(
        throttled(&s),
        s.meta.occurred_at + chrono::Duration::seconds(1),
    );
    let answer = at(
        completed(&s),
        s.meta.occurred_at + chrono::Duration::seconds(5),
    );
    publish_in_order(&w.producer, &[answer.clone(), first]).await;
    w.caught_up().await;
    let row = w
        .get(company, s.request_id)
        .await
        .expect("a row from the outcome alone");
    assert_eq!(row.status, "completed", "the newer outcome stays");
    assert!(row.submitted_at.is_none(), "no submission read yet");

    publish_in_order(&w.producer, &[Event::AiRequestSubmitted(s.clone()), answer]).await;
    w.caught_up().await;
    let row = w.get(company, s.request_id).await.unwrap();
    assert_eq!(
        row.status, "completed",
        "a late submission never resets the status"
    );
    assert_eq!(row.submitted_at, Some(s.meta.occurred_at));
    assert_eq!(row.user_id.as_deref(), Some("u-7"));
    let rows = ai_requests::recent(&w.pool, company, s.meta.occurred_at, 10);
    assert_eq!(rows.await.unwrap().len(), 1);

    drop(stop);
    task.await.unwrap();
    w.topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_mid_run_neither_loses_nor_duplicates_a_request() {
    let w = World::new("ai_requests_sigkill", 2).await;
    let companies: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let now = Utc::now();
    let requests: Vec<AiRequestSubmitted> = (0..1_000)
        .map(|i| submitted(companies[i % 5], now))
        .collect();
    let mut events: Vec<Event> = requests
        .iter()
        .cloned()
        .map(Event::AiRequestSubmitted)
        .collect();
    events.extend(requests.iter().map(completed));
    publish_all(&w.producer, &events).await;

    let applied = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(SUM(next_offset), 0)::int8 FROM projector_offsets",
        )
        .fetch_one(&w.pool)
        .await
        .unwrap()
    };
    let mut kills = 0;
    let mut child = start_projector_binary(&w.topics, &w.db, "ai_requests", "ai-requests-0", 20);
    while kills < 3 {
        let before = applied().await;
        trestle_testkit::wait_for("projector progress", Duration::from_secs(60), || async {
            (applied().await > before).then_some(())
        })
        .await;
        if applied().await >= events.len() as i64 {
            break;
        }
        child.kill();
        kills += 1;
        child = start_projector_binary(&w.topics, &w.db, "ai_requests", "ai-requests-0", 20);
    }
    assert_eq!(
        kills, 3,
        "the projector finished before it was killed three times"
    );
    w.caught_up().await;
    child.kill();

    let mut rows = 0;
    for company in &companies {
        let listed =
            ai_requests::recent(&w.pool, *company, now - chrono::Duration::hours(1), 1_000);
        let listed = listed.await.unwrap();
        assert!(listed
            .iter()
            .all(|r| r.status == "completed" && r.submitted_at.is_some()));
        rows += listed.len();
    }
    assert_eq!(rows, requests.len(), "every request once");
    w.topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiry_deletes_the_companys_requests_submitted_before_it_and_nothing_else() {
    let w = World::new("ai_requests_retention", 1).await;
    let (stop, task) = spawn(w.config());
    let (company, other) = (Uuid::now_v7(), Uuid::now_v7());
    let cutoff = Utc::now() - chrono::Duration::days(90);
    let old = submitted(company, cutoff - chrono::Duration::days(1));
    let fresh = submitted(company, cutoff + chrono::Duration::days(1));
    let others = submitted(other, cutoff - chrono::Duration::days(1));
    let mut events: Vec<Event> = [&old, &fresh, &others]
        .into_iter()
        .flat_map(|s| [Event::AiRequestSubmitted(s.clone()), completed(s)])
        .collect();
    events.push(Event::AiRequestsExpired(AiRequestsExpired {
        meta: Meta::root(company),
        submitted_before: cutoff,
        retention_days: 90,
    }));
    publish_in_order(&w.producer, &events).await;
    w.caught_up().await;
    assert!(w.get(company, old.request_id).await.is_none(), "expired");
    assert!(
        w.get(company, fresh.request_id).await.is_some(),
        "within retention"
    );
    assert!(
        w.get(other, others.request_id).await.is_some(),
        "another company's expiry is its own"
    );

    drop(stop);
    task.await.unwrap();
    w.topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_cannot_read_another_tenants_request() {
    let w = World::new("ai_requests_isolation", 1).await;
    let (stop, task) = spawn(w.config());
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let s = submitted(a, Utc::now());
    publish_in_order(
        &w.producer,
        &[Event::AiRequestSubmitted(s.clone()), completed(&s)],
    )
    .await;
    w.caught_up().await;
    assert!(w.get(a, s.request_id).await.is_some());
    assert!(
        w.get(b, s.request_id).await.is_none(),
        "b asking for a's request id"
    );
    let since = s.meta.occurred_at - chrono::Duration::hours(1);
    assert!(ai_requests::recent(&w.pool, b, since, 10)
        .await
        .unwrap()
        .is_empty());
    // Even a query naming no company sees only the tenant set.
    let mut tx = trestle_store::begin_for_tenant(&w.pool, b).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM ai_requests")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    tx.commit().await.unwrap();

    drop(stop);
    task.await.unwrap();
    w.topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiter_returns_the_answer_when_the_projector_commits_it_or_the_row_at_its_timeout() {
    let w = World::new("ai_requests_wait", 1).await;
    let (stop, task) = spawn(w.config());
    let waiter = std::sync::Arc::new(Waiter::start(w.pool.clone()).await.unwrap());
    let company = Uuid::now_v7();
    let (s, never) = (
        submitted(company, Utc::now()),
        submitted(company, Utc::now()),
    );
    publish_in_order(
        &w.producer,
        &[
            Event::AiRequestSubmitted(s.clone()),
            Event::AiRequestSubmitted(never.clone()),
        ],
    )
    .await;
    w.caught_up().await;

    let started = std::time::Instant::now();
    let waiting = {
        let waiter = waiter.clone();
        tokio::spawn(async move {
            waiter
                .wait(company, s.request_id, Duration::from_secs(60))
                .await
        })
    };
    publish_in_order(&w.producer, &[completed(&s)]).await;
    let row = waiting.await.unwrap().unwrap().expect("the row");
    assert_eq!(row.status, "completed");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "woken by the commit, not the timeout"
    );

    let row = waiter
        .wait(company, never.request_id, Duration::from_millis(300))
        .await;
    assert_eq!(
        row.unwrap().map(|r| r.status),
        Some("queued".to_string()),
        "as it is at the timeout"
    );
    let unknown = waiter
        .wait(company, Uuid::now_v7(), Duration::from_millis(100))
        .await;
    assert!(unknown.unwrap().is_none());

    drop(stop);
    task.await.unwrap();
    w.topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shards_projector_keeps_the_requests_of_its_companies_and_drops_a_moved_ones() {
    let topics = TestTopics::create("ai_requests_shards", 2).await.unwrap();
    let dbs = [
        TestDb::shard("ai_requests_shard_0").await.unwrap(),
        TestDb::shard("ai_requests_shard_1").await.unwrap(),
    ];
    let pools = [
        trestle_store::connect(&dbs[0].options).await.unwrap(),
        trestle_store::connect(&dbs[1].options).await.unwrap(),
    ];
    let producer = EventProducer::new(&topics.options).unwrap();
    let config = |index: i32| ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: dbs[index as usize].options.clone(),
        group_id: topics.group(&format!("ai_requests-{index}")),
        projection: ProjectionKind::AiRequests,
        batch_max_wait_ms: 20,
        shard: Some(trestle_projector::UsageShardConfig {
            index,
            count: 2,
            control: Default::default(),
        }),
        ..ProjectorConfig::default()
    };
    let running = [spawn(config(0)), spawn(config(1))];
    let company = Uuid::now_v7();
    let provisioned = |shard: i32, when: DateTime<Utc>| {
        at(
            crate::routing::provisioned(company, shard, "us-1", Region::Us),
            when,
        )
    };
    let now = Utc::now();
    publish_in_order(&producer, &[provisioned(1, now)]).await;
    let s = submitted(company, now);
    publish_in_order(
        &producer,
        &[Event::AiRequestSubmitted(s.clone()), completed(&s)],
    )
    .await;
    let caught_up = || async {
        for pool in &pools {
            for logical in ["tenants", "ai-requests", "ai-outcomes"] {
                wait_topic_caught_up(&topics, pool, logical, Duration::from_secs(60)).await;
            }
        }
    };
    caught_up().await;
    let row = |i: usize| ai_requests::get(&pools[i], company, s.request_id);
    assert!(
        row(1).await.unwrap().is_some(),
        "in the shard it is provisioned to"
    );
    assert!(row(0).await.unwrap().is_none(), "nowhere else");

    // Moved to shard 0: shard 1 drops its rows (the history does not follow; docs/answers.md).
    publish_in_order(
        &producer,
        &[provisioned(0, now + chrono::Duration::seconds(1))],
    )
    .await;
    // Read by both before the next request: a request read in between may be in neither
    // shard (the window docs/answers.md names).
    caught_up().await;
    let later = submitted(company, now + chrono::Duration::seconds(2));
    publish_in_order(&producer, &[Event::AiRequestSubmitted(later.clone())]).await;
    caught_up().await;
    assert!(row(1).await.unwrap().is_none(), "dropped by the old shard");
    assert!(ai_requests::get(&pools[0], company, later.request_id)
        .await
        .unwrap()
        .is_some());
    assert!(ai_requests::get(&pools[1], company, later.request_id)
        .await
        .unwrap()
        .is_none());

    for (stop, task) in running {
        drop(stop);
        task.await.unwrap();
    }
    topics.delete().await;
}
