//! Shared helpers: the pool projector and the onboarding workflow of a test, and the events
//! they publish.

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_events::{
    CloudProjectLimitSet, CloudProjectRegistered, CompanyRegistered, Event, IsolationLevel, Meta,
    Region, TenantProvisioned, Tier, PLATFORM_COMPANY_ID,
};
use trestle_onboarding::OnboardingConfig;
use trestle_projector::{ProjectionKind, ProjectorConfig};
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

/// A stop switch for a service running in this process: dropping it stops the service.
pub(crate) type Stop = tokio::sync::oneshot::Sender<()>;

/// Onboarding config for a test's topics and control database.
pub(crate) fn onboarding_config(topics: &TestTopics, db: &TestDb) -> OnboardingConfig {
    OnboardingConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group("onboarding"),
        commit_interval_ms: 20,
        retry_max_delay_ms: 200,
        ..OnboardingConfig::default()
    }
}

/// Runs onboarding in this process until the returned switch is dropped.
pub(crate) fn spawn_onboarding(config: OnboardingConfig) -> (Stop, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        trestle_onboarding::run(config, async {
            let _ = stopped.await;
        })
        .await
        .expect("onboarding runs");
    });
    (stop, handle)
}

/// Runs the pool projection (cloud projects from the log) until the switch is dropped.
pub(crate) fn spawn_pool(topics: &TestTopics, db: &TestDb) -> (Stop, tokio::task::JoinHandle<()>) {
    spawn_projector(ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: db.options.clone(),
        group_id: topics.group("pool"),
        projection: ProjectionKind::Pool,
        batch_max_wait_ms: 20,
        ..ProjectorConfig::default()
    })
}

/// Runs a projector in this process until the switch is dropped.
pub(crate) fn spawn_projector(config: ProjectorConfig) -> (Stop, tokio::task::JoinHandle<()>) {
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

pub(crate) fn project(id: &str, region: Region) -> Event {
    Event::CloudProjectRegistered(CloudProjectRegistered {
        meta: Meta::platform(),
        cloud_project_id: id.into(),
        region,
        notebook_limit: 50_000,
        dedicated_company_id: None,
    })
}

pub(crate) fn limit(id: &str, notebook_limit: i32) -> Event {
    Event::CloudProjectLimitSet(CloudProjectLimitSet {
        meta: Meta::platform(),
        cloud_project_id: id.into(),
        notebook_limit,
    })
}

pub(crate) fn registration(tier: Tier, region: Region, isolation: IsolationLevel) -> Event {
    let company = Uuid::now_v7();
    Event::CompanyRegistered(CompanyRegistered {
        meta: Meta::root(company),
        name: format!("Company {company}"),
        tier,
        country: match region {
            Region::Eu => "DE",
            Region::Apac => "JP",
            _ => "US",
        }
        .into(),
        region,
        isolation,
    })
}

/// Waits until the pool projection knows `count` projects.
pub(crate) async fn wait_projects(db: &TestDb, count: usize) {
    let pool = trestle_store::connect(&db.options).await.unwrap();
    let pool = &pool;
    trestle_testkit::wait_for(
        "the pool to know the projects",
        Duration::from_secs(60),
        || async move {
            let projects = trestle_query::pool::projects(pool).await.unwrap();
            (projects.len() >= count).then_some(())
        },
    )
    .await;
}

/// Every provisioning on the test's `tenants` topic, by company, once the topic holds at
/// least `records` records (registrations and provisionings; a company provisioned twice
/// shows up with two).
pub(crate) async fn provisionings(
    topics: &TestTopics,
    records: usize,
) -> BTreeMap<Uuid, Vec<TenantProvisioned>> {
    let tenants = topics.topic("tenants");
    let read = trestle_testkit::read_topic(&topics.options, &tenants, records, WAIT).await;
    let mut by_company: BTreeMap<Uuid, Vec<TenantProvisioned>> = BTreeMap::new();
    for record in read {
        if let Event::TenantProvisioned(p) = decode(&record) {
            by_company.entry(p.meta.company_id).or_default().push(p);
        }
    }
    by_company
}

/// The knowledge bases requested on the test's `jobs` topic (notebook ids), by company, once
/// it holds at least `records` records.
pub(crate) async fn knowledge_bases(
    topics: &TestTopics,
    records: usize,
) -> BTreeMap<Uuid, Vec<String>> {
    let jobs = topics.topic("jobs");
    let read = trestle_testkit::read_topic(&topics.options, &jobs, records, WAIT).await;
    let mut by_company: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for record in read {
        if let Event::KnowledgeBaseRequested(kb) = decode(&record) {
            by_company
                .entry(kb.meta.company_id)
                .or_default()
                .push(kb.notebook_id);
        }
    }
    by_company
}

fn decode(record: &trestle_testkit::ReadRecord) -> Event {
    trestle_events::decode(record.payload.as_deref().expect("a value")).expect("an event")
}

/// How long a test waits for the workflow.
pub(crate) const WAIT: Duration = Duration::from_secs(90);

/// The dedicated projects registered on `cloud-projects` so far, by company.
pub(crate) async fn dedicated_projects(topics: &TestTopics) -> BTreeMap<Uuid, Vec<String>> {
    let topic = topics.topic("cloud-projects");
    let read = trestle_testkit::read_topic(&topics.options, &topic, 0, WAIT).await;
    let mut by_company: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for record in read {
        if let Event::CloudProjectRegistered(p) = decode(&record) {
            assert_eq!(p.meta.company_id, PLATFORM_COMPANY_ID);
            if let Some(company) = p.dedicated_company_id {
                by_company
                    .entry(company)
                    .or_default()
                    .push(p.cloud_project_id);
            }
        }
    }
    by_company
}
