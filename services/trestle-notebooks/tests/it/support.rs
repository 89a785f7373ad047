//! One test's world: its topics, a control and a shard database, the routing and pool
//! projections, the simulator, and the notebook workflow; plus the events tests publish.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use trestle_events::{
    CloudProjectRegistered, CompanyRegistered, DocumentAdded, DocumentKind, Event, IsolationLevel,
    JobCreated, Meta, Region, TenantProvisioned, Tier,
};
use trestle_kafka::EventProducer;
use trestle_notebooks::NotebooksConfig;
use trestle_projector::{ProjectionKind, ProjectorConfig};
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

/// A stop switch for a service running in this process: dropping it stops the service.
pub(crate) type Stop = tokio::sync::oneshot::Sender<()>;

pub(crate) struct World {
    pub(crate) topics: TestTopics,
    pub(crate) control: TestDb,
    pub(crate) shard: TestDb,
    pub(crate) producer: EventProducer,
    pub(crate) sim_url: String,
    pub(crate) http: reqwest::Client,
    stops: Vec<Stop>,
}

impl World {
    /// Topics, databases, projections and the simulator; the workflow is started apart.
    pub(crate) async fn start(test: &str) -> World {
        let topics = TestTopics::create(test, 3).await.expect("topics");
        let control = TestDb::control(&format!("{test}_c"))
            .await
            .expect("control db");
        let shard = TestDb::shard(&format!("{test}_s")).await.expect("shard db");
        let producer = EventProducer::new(&topics.options).expect("producer");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_url = format!("http://{}", listener.local_addr().unwrap());
        let (sim_stop, sim_stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let config = trestle_provider_sim::SimConfig::default();
            trestle_provider_sim::serve(listener, &config, async {
                let _ = sim_stopped.await;
            })
            .await
            .expect("simulator serves");
        });
        let mut world = World {
            topics,
            control,
            shard,
            producer,
            sim_url,
            http: reqwest::Client::new(),
            stops: vec![sim_stop],
        };
        for (name, projection) in [
            ("routing", ProjectionKind::Routing),
            ("pool", ProjectionKind::Pool),
        ] {
            let config = ProjectorConfig {
                kafka: world.topics.options.clone(),
                postgres: world.control.options.clone(),
                group_id: world.topics.group(name),
                projection,
                batch_max_wait_ms: 20,
                ..ProjectorConfig::default()
            };
            world.stops.push(spawn(async move |stopped| {
                trestle_projector::run(config, stopped)
                    .await
                    .expect("projector runs")
            }));
        }
        world
    }

    /// The workflow's configuration for this world (one shard: shard 0).
    pub(crate) fn config(&self) -> NotebooksConfig {
        NotebooksConfig {
            kafka: self.topics.options.clone(),
            group_id: self.topics.group("notebooks"),
            control: self.control.options.clone(),
            shards: vec![self.shard.options.clone()],
            service: trestle_notebooks::ServiceOptions {
                base_url: self.sim_url.clone(),
                retry_initial_ms: 10,
                ..Default::default()
            },
            commit_interval_ms: 20,
            retry_max_delay_ms: 200,
            ..NotebooksConfig::default()
        }
    }

    /// Runs the timer service on a manual clock starting now; the clock to move.
    pub(crate) fn run_timers(&mut self) -> trestle_timers::clock::ManualClock {
        let (clock, manual) = trestle_timers::clock::Clock::manual(chrono::Utc::now());
        let config = trestle_timers::TimersConfig {
            kafka: self.topics.options.clone(),
            postgres: self.control.options.clone(),
            group_id: self.topics.group("timers"),
            poll_interval_ms: 50,
            batch_max_wait_ms: 10,
            ..Default::default()
        };
        self.stops.push(spawn(async move |stopped| {
            trestle_timers::run(config, clock, stopped)
                .await
                .expect("timers run")
        }));
        manual
    }

    /// Each job's tier and notebook, as the workflow keeps them (read as the company).
    pub(crate) async fn tiers(&self, company: Uuid) -> BTreeMap<String, (String, Option<String>)> {
        let shard = trestle_store::connect(&self.shard.options).await.unwrap();
        let mut tx = trestle_store::begin_for_tenant(&shard, company)
            .await
            .unwrap();
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT job_id, tier, notebook_id FROM jobs ORDER BY job_id")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        shard.close().await;
        rows.into_iter().map(|(j, t, n)| (j, (t, n))).collect()
    }

    /// Waits until every job of `jobs` is in `tier`.
    pub(crate) async fn wait_tier(&self, company: Uuid, jobs: &[String], tier: &str) {
        trestle_testkit::wait_for(
            &format!("jobs {jobs:?} to be {tier}"),
            Duration::from_secs(120),
            || async {
                let tiers = self.tiers(company).await;
                jobs.iter()
                    .all(|j| tiers.get(j).is_some_and(|(t, _)| t == tier))
                    .then_some(())
            },
        )
        .await;
    }

    /// Waits until the pool projection counts, per project, what the simulator holds; the counts.
    pub(crate) async fn pool_agrees_with_simulator(&self, projects: &[&str]) -> Vec<usize> {
        let control = trestle_store::connect(&self.control.options).await.unwrap();
        let control = &control;
        trestle_testkit::wait_for(
            "the pool's notebook counts to equal the simulator's",
            Duration::from_secs(60),
            || async move {
                let pool = trestle_query::pool::projects(control).await.unwrap();
                let mut counts = Vec::new();
                for p in projects {
                    let sim = self.sim_sources(p).await.len();
                    let projected = pool
                        .iter()
                        .find(|c| c.project_id == *p)
                        .map(|c| c.notebook_count as usize)
                        .unwrap_or(0);
                    if sim != projected {
                        return None;
                    }
                    counts.push(sim);
                }
                Some(counts)
            },
        )
        .await
    }

    /// Runs the workflow in this process until the world ends.
    pub(crate) fn run_workflow(&mut self, config: NotebooksConfig) {
        self.stops.push(spawn(async move |stopped| {
            trestle_notebooks::run(config, stopped)
                .await
                .expect("workflow runs")
        }));
    }

    pub(crate) async fn publish(&self, events: &[Event]) {
        trestle_testkit::fixtures::publish_all(&self.producer, events).await;
    }

    /// Registers cloud projects of the EU region with these notebook limits.
    pub(crate) async fn projects(&self, projects: &[(&str, i32)]) {
        let events: Vec<Event> = projects
            .iter()
            .map(|(id, limit)| {
                Event::CloudProjectRegistered(CloudProjectRegistered {
                    meta: Meta::platform(),
                    cloud_project_id: (*id).into(),
                    region: Region::Eu,
                    notebook_limit: *limit,
                    dedicated_company_id: None,
                })
            })
            .collect();
        self.publish(&events).await;
        let pool = trestle_store::connect(&self.control.options).await.unwrap();
        let want = projects.len();
        trestle_testkit::wait_for(
            "the pool to know the projects",
            Duration::from_secs(60),
            || {
                let pool = pool.clone();
                async move {
                    let known = trestle_query::pool::projects(&pool).await.unwrap();
                    (known.len() >= want).then_some(())
                }
            },
        )
        .await;
    }

    /// A company registered and provisioned on shard 0 in `project`, once routing knows it.
    pub(crate) async fn company(&self, project: &str) -> Uuid {
        let company = Uuid::now_v7();
        let registered = CompanyRegistered {
            meta: Meta::root(company),
            name: format!("Builder {company}"),
            tier: Tier::Professional,
            country: "DE".into(),
            region: Region::Eu,
            isolation: IsolationLevel::Shared,
        };
        let provisioned = TenantProvisioned {
            meta: Meta::caused_by(&registered.meta),
            region: Region::Eu,
            database_shard: 0,
            cloud_project_id: project.into(),
            isolation_level: IsolationLevel::Shared,
            kb_notebook_id: String::new(),
        };
        self.publish(&[registered.into(), provisioned.into()]).await;
        let pool = trestle_store::connect(&self.control.options).await.unwrap();
        trestle_testkit::wait_for(
            "routing to know the company",
            Duration::from_secs(60),
            || {
                let pool = pool.clone();
                async move {
                    let route = trestle_query::routing::lookup(&pool, company)
                        .await
                        .unwrap();
                    route.and_then(|r| r.database_shard).map(|_| ())
                }
            },
        )
        .await;
        company
    }

    /// The simulator's notebooks of `project`: notebook id → its source ids.
    pub(crate) async fn sim_sources(&self, project: &str) -> BTreeMap<String, Vec<String>> {
        let listing: Value = self
            .http
            .get(format!("{}/admin/notebooks/{project}", self.sim_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listing
            .as_array()
            .map(|notebooks| {
                notebooks
                    .iter()
                    .map(|n| {
                        let ids = n["source_ids"].as_array().unwrap().iter();
                        let ids = ids.map(|s| s.as_str().unwrap().to_owned()).collect();
                        (n["id"].as_str().unwrap().to_owned(), ids)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets the simulator's notebook behaviour of a project (JSON of `NotebookBehaviour`).
    pub(crate) async fn sim_behaviour(&self, project: &str, behaviour: Value) {
        let status = self
            .http
            .put(format!(
                "{}/admin/projects/{project}/notebooks",
                self.sim_url
            ))
            .json(&behaviour)
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status.is_success(),
            "setting the simulator's behaviour: {status}"
        );
    }

    /// Asks the simulator's notebook a question: the cited source ids.
    pub(crate) async fn ask(&self, project: &str, notebook: &str, question: &str) -> Vec<String> {
        let answer: Value = self
            .http
            .post(format!(
                "{}/projects/{project}/notebooks/{notebook}/query",
                self.sim_url
            ))
            .json(&serde_json::json!({"question": question}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["citations"]
            .as_array()
            .unwrap_or_else(|| panic!("an answer: {answer}"))
            .iter()
            .map(|c| c["source_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every event on the test's `topic`, once it holds at least `n`.
    pub(crate) async fn events(&self, topic: &str, n: usize) -> Vec<Event> {
        let records = trestle_testkit::read_topic(
            &self.topics.options,
            &self.topics.topic(topic),
            n,
            Duration::from_secs(120),
        )
        .await;
        records
            .iter()
            .map(|r| trestle_events::decode(r.payload.as_deref().unwrap()).unwrap())
            .collect()
    }

    pub(crate) async fn end(self) {
        drop(self.stops);
        self.topics.delete().await;
        self.control.drop_db().await;
        self.shard.drop_db().await;
    }
}

/// Runs `service` on a task until the returned switch is dropped.
fn spawn<F, Fut>(service: F) -> Stop
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = Box::pin(async move {
        let _ = stopped.await;
    });
    tokio::spawn(service(stopped));
    stop
}

pub(crate) fn job(company: Uuid, job_id: &str) -> Event {
    Event::JobCreated(JobCreated {
        meta: Meta::root(company),
        job_id: job_id.into(),
        name: format!("Job {job_id}"),
        created_by: String::new(),
    })
}

pub(crate) fn completed(company: Uuid, job_id: &str) -> Event {
    Event::JobCompleted(trestle_events::JobCompleted {
        meta: Meta::root(company),
        job_id: job_id.into(),
        completed_by: String::new(),
    })
}

pub(crate) fn reopened(company: Uuid, job_id: &str) -> Event {
    Event::JobReopened(trestle_events::JobReopened {
        meta: Meta::root(company),
        job_id: job_id.into(),
        reason: String::new(),
    })
}

pub(crate) fn document(company: Uuid, job_id: &str, document_id: &str, text: &str) -> Event {
    Event::DocumentAdded(DocumentAdded {
        meta: Meta::root(company),
        document_id: document_id.into(),
        job_id: job_id.into(),
        file_name: format!("{document_id}.txt"),
        content_type: "text/plain".into(),
        size_bytes: text.len() as i64,
        page_count: Some(1),
        storage_uri: String::new(),
        uploaded_by: String::new(),
        title: format!("Document {document_id}"),
        kind: DocumentKind::Specification,
        pages: vec![text.into()],
    })
}

/// A completed job's notebook asked for, at `at` (the timer clock's time, which demotions are
/// scheduled from).
pub(crate) fn notebook_requested(
    company: Uuid,
    job_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Event {
    Event::JobNotebookRequested(trestle_events::JobNotebookRequested {
        meta: Meta {
            occurred_at: at,
            ..Meta::root(company)
        },
        job_id: job_id.into(),
        requested_by: String::new(),
    })
}
