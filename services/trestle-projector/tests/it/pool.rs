//! The cloud-project pool: notebooks against the limit (active / full / maintenance) and
//! provider requests per project and day, counted exactly once.

use chrono::{Duration as Days, NaiveDate, Utc};
use trestle_events::{
    AiRequestCompleted, CloudProjectLimitSet, CloudProjectMaintenanceSet, CloudProjectRegistered,
    Event, Meta, NotebookArchived, NotebookCreated, NotebookDemoted, NotebookPurpose,
    NotebookRecreated, NotebookTier, Region,
};
use trestle_kafka::EventProducer;
use trestle_projector::ProjectionKind;
use trestle_query::pool;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::routing::{control_config, provisioned, publish_in_order, wait_caught_up};
use crate::support::spawn;

fn created(company: Uuid, notebook: &str, project: &str) -> Event {
    Event::NotebookCreated(NotebookCreated {
        meta: Meta::root(company),
        notebook_id: notebook.into(),
        purpose: NotebookPurpose::Job,
        job_id: Some(format!("job-{notebook}")),
        cloud_project_id: project.into(),
        tier: NotebookTier::Hot,
    })
}

fn archived(company: Uuid, notebook: &str, project: &str) -> Event {
    Event::NotebookArchived(NotebookArchived {
        meta: Meta::root(company),
        notebook_id: notebook.into(),
        job_id: Some(format!("job-{notebook}")),
        cloud_project_id: project.into(),
        embeddings_kept: true,
        reason: "job completed over 6 months ago".into(),
    })
}

fn recreated(company: Uuid, notebook: &str, previous: &str, project: &str) -> Event {
    Event::NotebookRecreated(NotebookRecreated {
        meta: Meta::root(company),
        notebook_id: notebook.into(),
        previous_notebook_id: previous.into(),
        job_id: Some(format!("job-{previous}")),
        cloud_project_id: project.into(),
        reason: "question about a cold job".into(),
    })
}

fn demoted(company: Uuid, notebook: &str) -> Event {
    Event::NotebookDemoted(NotebookDemoted {
        meta: Meta::root(company),
        notebook_id: notebook.into(),
        job_id: Some(format!("job-{notebook}")),
        from_tier: NotebookTier::Hot,
        to_tier: NotebookTier::Warm,
        target_notebook_id: Some("warm-1".into()),
        reason: "job completed".into(),
    })
}

/// The operator's `trestle-admin project limit` as an event.
fn limit_set(project: &str, notebook_limit: i32) -> Event {
    Event::CloudProjectLimitSet(CloudProjectLimitSet {
        meta: Meta::platform(),
        cloud_project_id: project.into(),
        notebook_limit,
    })
}

/// The operator's `trestle-admin project add` as an event.
fn project_registered(
    project: &str,
    region: Region,
    notebook_limit: i32,
    dedicated_company_id: Option<Uuid>,
) -> Event {
    Event::CloudProjectRegistered(CloudProjectRegistered {
        meta: Meta::platform(),
        cloud_project_id: project.into(),
        region,
        notebook_limit,
        dedicated_company_id,
    })
}

/// The operator's `trestle-admin project maintenance` as an event.
fn maintenance_set(project: &str, maintenance: bool) -> Event {
    Event::CloudProjectMaintenanceSet(CloudProjectMaintenanceSet {
        meta: Meta::platform(),
        cloud_project_id: project.into(),
        maintenance,
    })
}

fn completed(company: Uuid, provider: &str, project: Option<&str>, day: NaiveDate) -> Event {
    let mut meta = Meta::root(company);
    meta.occurred_at = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
    Event::AiRequestCompleted(AiRequestCompleted {
        meta,
        request_id: Uuid::now_v7(),
        provider: provider.into(),
        model: "m".into(),
        cloud_project_id: project.map(str::to_owned),
        latency_ms: 100,
        degraded: false,
        answer: "a".into(),
        input_tokens: 10,
        output_tokens: 10,
        cost_micro_usd: 100,
        answer_path: trestle_events::AnswerPath::Chat,
        cited_document_ids: vec![],
    })
}

/// (count, limit, status) of a project.
async fn state(db: &sqlx::PgPool, project: &str) -> (i32, i32, String) {
    let p = pool::project(db, project)
        .await
        .unwrap()
        .expect("project known");
    (p.notebook_count, p.notebook_limit, p.status)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_counts_notebooks_against_the_limit_and_is_full_at_it() {
    let topics = TestTopics::create("pool_notebooks", 2).await.unwrap();
    let control = TestDb::control("pool_notebooks").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let db = trestle_store::connect(&control.options).await.unwrap();
    let (stop, handle) = spawn(control_config(&topics, &control, ProjectionKind::Pool));
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let topics_read = ["notebooks", "tenants", "cloud-projects"];

    // A project becomes known when a tenant is provisioned into it, with its region and the
    // seed's default limit.
    publish_in_order(&producer, &[provisioned(a, 0, "gcp-1", Region::Eu)]).await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(state(&db, "gcp-1").await, (0, 50_000, "active".into()));
    let p = pool::project(&db, "gcp-1").await.unwrap().unwrap();
    assert_eq!(p.region.as_deref(), Some("eu"));

    publish_in_order(&producer, &[limit_set("gcp-1", 3)]).await;
    let first = created(a, "nb-1", "gcp-1");
    publish_in_order(&producer, &[first.clone(), created(b, "nb-2", "gcp-1")]).await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(state(&db, "gcp-1").await, (2, 3, "active".into()));

    // The third notebook fills it; a re-published creation and a demotion change nothing.
    publish_in_order(
        &producer,
        &[created(a, "nb-3", "gcp-1"), first, demoted(a, "nb-1")],
    )
    .await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(state(&db, "gcp-1").await, (3, 3, "full".into()));

    // Archiving frees a place (once, however often it is published): back below the limit.
    let archive = archived(a, "nb-1", "gcp-1");
    publish_in_order(&producer, &[archive.clone(), archive]).await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(state(&db, "gcp-1").await, (2, 3, "active".into()));

    // Re-creating the cold job's notebook takes a place again.
    publish_in_order(&producer, &[recreated(a, "nb-4", "nb-1", "gcp-1")]).await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(state(&db, "gcp-1").await, (3, 3, "full".into()));

    // Maintenance is the operator's (an event on `cloud-projects`) and wins over the count;
    // notebook events do not change it.
    publish_in_order(&producer, &[maintenance_set("gcp-1", true)]).await;
    publish_in_order(&producer, &[archived(b, "nb-2", "gcp-1")]).await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(state(&db, "gcp-1").await, (2, 3, "maintenance".into()));
    publish_in_order(&producer, &[maintenance_set("gcp-1", false)]).await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(state(&db, "gcp-1").await, (2, 3, "active".into()));

    let _ = stop.send(());
    handle.await.unwrap();
    db.close().await;
    control.drop_db().await;
    topics.delete().await;
}

/// (region, limit, dedicated company, maintenance) of a project.
async fn registration(
    db: &sqlx::PgPool,
    project: &str,
) -> (Option<String>, i32, Option<Uuid>, bool) {
    let p = pool::project(db, project)
        .await
        .unwrap()
        .expect("project known");
    (
        p.region,
        p.notebook_limit,
        p.dedicated_company_id,
        p.maintenance,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registered_project_takes_its_region_limit_and_dedicated_company() {
    let topics = TestTopics::create("pool_registered", 2).await.unwrap();
    let control = TestDb::control("pool_registered").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let db = trestle_store::connect(&control.options).await.unwrap();
    let (stop, handle) = spawn(control_config(&topics, &control, ProjectionKind::Pool));
    let (enterprise, tenant) = (Uuid::now_v7(), Uuid::now_v7());
    let topics_read = ["tenants", "cloud-projects"];

    // A project first known from provisioning (region us), then registered by the operator:
    // the registration's region, limit and dedicated company win. A project the pool has never
    // seen is created by its registration.
    publish_in_order(&producer, &[provisioned(tenant, 0, "gcp-d", Region::Us)]).await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(
        registration(&db, "gcp-d").await,
        (Some("us".into()), 50_000, None, false)
    );
    publish_in_order(
        &producer,
        &[
            project_registered("gcp-d", Region::Eu, 2, Some(enterprise)),
            project_registered("gcp-s", Region::Apac, 10, None),
        ],
    )
    .await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(
        registration(&db, "gcp-d").await,
        (Some("eu".into()), 2, Some(enterprise), false)
    );
    assert_eq!(
        registration(&db, "gcp-s").await,
        (Some("apac".into()), 10, None, false)
    );
    assert_eq!(state(&db, "gcp-s").await, (0, 10, "active".into()));

    // Later settings change only their own column; a later provisioning does not move the
    // registered region; the same registration applied again changes nothing.
    let again = project_registered("gcp-s", Region::Apac, 10, None);
    publish_in_order(
        &producer,
        &[
            limit_set("gcp-d", 5),
            maintenance_set("gcp-d", true),
            provisioned(enterprise, 1, "gcp-d", Region::Us),
            again.clone(),
            again,
        ],
    )
    .await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(
        registration(&db, "gcp-d").await,
        (Some("eu".into()), 5, Some(enterprise), true)
    );
    assert_eq!(
        registration(&db, "gcp-s").await,
        (Some("apac".into()), 10, None, false)
    );

    // Registered again as a shared project: the dedication goes, the limit is the new
    // registration's, the operator's maintenance switch stays.
    publish_in_order(
        &producer,
        &[project_registered("gcp-d", Region::Eu, 3, None)],
    )
    .await;
    wait_caught_up(&topics, &db, &topics_read).await;
    assert_eq!(
        registration(&db, "gcp-d").await,
        (Some("eu".into()), 3, None, true)
    );

    let _ = stop.send(());
    handle.await.unwrap();
    db.close().await;
    control.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_provider_per_project_per_day_are_exact() {
    let topics = TestTopics::create("pool_requests", 3).await.unwrap();
    let control = TestDb::control("pool_requests").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let companies: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let today = Utc::now().date_naive();
    let yesterday = today - Days::days(1);
    let mut events = Vec::new();
    // (project, provider, day) -> expected
    let plan: [(&str, &str, NaiveDate, usize); 5] = [
        ("gcp-1", "gemini", today, 37),
        ("gcp-1", "openai", today, 11),
        ("gcp-1", "gemini", yesterday, 5),
        ("gcp-2", "gemini", today, 23),
        ("gcp-2", "notebooklm", today, 8),
    ];
    for (project, provider, day, n) in plan {
        for i in 0..n {
            events.push(completed(
                companies[i % companies.len()],
                provider,
                Some(project),
                day,
            ));
        }
    }
    // Not from the pool: not counted.
    for i in 0..6 {
        events.push(completed(companies[i % 5], "openai", None, today));
    }
    // Re-published outcomes (same event ids): counted once.
    let again: Vec<Event> = events.iter().step_by(4).cloned().collect();
    events.extend(again);
    crate::support::publish_all(&producer, &events).await;

    let db = trestle_store::connect(&control.options).await.unwrap();
    let (stop, handle) = spawn(control_config(&topics, &control, ProjectionKind::Pool));
    wait_caught_up(&topics, &db, &["ai-outcomes"]).await;

    assert_eq!(
        pool::requests_on(&db, "gcp-1", today).await.unwrap(),
        vec![("gemini".into(), 37), ("openai".into(), 11)]
    );
    assert_eq!(
        pool::requests_on(&db, "gcp-1", yesterday).await.unwrap(),
        vec![("gemini".into(), 5)]
    );
    assert_eq!(
        pool::requests_on(&db, "gcp-2", today).await.unwrap(),
        vec![("gemini".into(), 23), ("notebooklm".into(), 8)]
    );
    // Projects first seen through their requests are in the pool too.
    let ids: Vec<String> = pool::projects(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.project_id)
        .collect();
    assert_eq!(ids, vec!["gcp-1".to_string(), "gcp-2".to_string()]);

    let _ = stop.send(());
    handle.await.unwrap();
    db.close().await;
    control.drop_db().await;
    topics.delete().await;
}
