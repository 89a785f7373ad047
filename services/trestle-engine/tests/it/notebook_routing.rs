//! A `notebook_query` about a job is routed by the job's state in its company's shard: a hot
//! job's own notebook answers, a warm job's pool notebook answers from the job's sources only,
//! a cold job is answered by RAG from its own chunks (never another job's or company's), and
//! when the notebook service fails RAG answers, degraded. The shard's tables are seeded as
//! the tenant, the simulator's notebooks over its HTTP API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use trestle_events::{
    AiRequestCompleted, AiRequestKind, AiRequestSubmitted, AnswerPath, Event, IsolationLevel, Meta,
    Meter, Region, TenantProvisioned, Tier,
};
use trestle_kafka::EventProducer;
use trestle_notebooks::KNOWLEDGE_BASE;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::{
    answered_once, ask, config, provider_calls, publish_all, read_until, register, start_sim,
    Engine,
};

/// The cloud project every company of these tests lives in, and its notebooks.
const PROJECT: &str = "us-1";

/// One test's world: topics, a shard database, the simulator, companies on shard 0.
struct World {
    topics: TestTopics,
    shard: TestDb,
    pool: sqlx::PgPool,
    producer: EventProducer,
    sim: String,
    http: reqwest::Client,
}

impl World {
    async fn start(test: &str) -> World {
        let topics = TestTopics::create(test, 2).await.unwrap();
        let shard = TestDb::shard(test).await.unwrap();
        let pool = trestle_store::connect(&shard.options).await.unwrap();
        World {
            producer: EventProducer::new(&topics.options).unwrap(),
            sim: start_sim(BTreeMap::new()).await,
            http: reqwest::Client::new(),
            topics,
            shard,
            pool,
        }
    }

    /// A company registered and provisioned on shard 0 in [`PROJECT`].
    async fn company(&self) -> Uuid {
        let company = Uuid::now_v7();
        register(&self.producer, company, Tier::Professional).await;
        let provisioned = Event::TenantProvisioned(TenantProvisioned {
            meta: Meta::root(company),
            region: Region::Us,
            database_shard: 0,
            cloud_project_id: PROJECT.into(),
            isolation_level: IsolationLevel::Shared,
            kb_notebook_id: String::new(),
        });
        self.producer.publish(&provisioned).await.unwrap();
        company
    }

    /// The engine, reading job state from the test's shard; only provisioned companies.
    fn engine(&self) -> Engine {
        let mut config = config(&self.topics, &self.sim);
        config.shards = vec![self.shard.options.clone()];
        config.unprovisioned = trestle_engine::Unprovisioned::Refuse;
        config.provisioning_wait_ms = 10_000;
        Engine::start(config)
    }

    /// A job row of `company` in `tier`, answered for by `notebook` (if any).
    async fn job(&self, company: Uuid, job_id: &str, tier: &str, notebook: Option<&str>) {
        let mut tx = trestle_store::begin_for_tenant(&self.pool, company)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO jobs (company_id, job_id, name, status, tier, notebook_id, created_at)
             VALUES ($1, $2, $2, CASE WHEN $3 = 'hot' THEN 'active' ELSE 'completed' END, $3, $4, now())",
        )
        .bind(company)
        .bind(job_id)
        .bind(tier)
        .bind(notebook)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// A notebook row of `company` in [`PROJECT`] (`job`: a job's own, or the knowledge base's
    /// for its scope; `None`: a warm pool's),
    /// and, when `ready`, the notebook at the simulator.
    async fn notebook(&self, company: Uuid, notebook_id: &str, job: Option<&str>, state: &str) {
        let (purpose, job) = match job {
            Some(KNOWLEDGE_BASE) => ("knowledge_base", None),
            Some(job) => ("job", Some(job)),
            None => ("warm_pool", None),
        };
        let mut tx = trestle_store::begin_for_tenant(&self.pool, company)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO notebooks (company_id, notebook_id, purpose, job_id, cloud_project_id, state, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(company)
        .bind(notebook_id)
        .bind(purpose)
        .bind(job)
        .bind(PROJECT)
        .bind(state)
        .bind(Uuid::now_v7())
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        if state == "ready" {
            let url = format!("{}/projects/{PROJECT}/notebooks/{notebook_id}", self.sim);
            let created = self.http.put(url).json(&json!({"title": notebook_id}));
            created.send().await.unwrap().error_for_status().unwrap();
        }
    }

    /// A document of `company`'s `job` with `text`: its row (synced into `notebook`, if any),
    /// its chunks embedded like the notebook workflow embeds them, and a source of `notebook`
    /// at the simulator.
    async fn document(
        &self,
        company: Uuid,
        job: &str,
        document_id: &str,
        text: &str,
        notebook: Option<&str>,
    ) {
        let pages = vec![text.to_owned()];
        let chunks = trestle_notebooks::chunks(&pages, 1_000);
        let vectors: Vec<String> = chunks
            .iter()
            .map(|c| vector_literal(&trestle_provider_sim::embed(c)))
            .collect();
        let indexes: Vec<i32> = (0..chunks.len() as i32).collect();
        let mut tx = trestle_store::begin_for_tenant(&self.pool, company)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO job_documents (company_id, document_id, job_id, title, kind, file_name,
                                        pages, added_event_id, added_at, sync_state, notebook_id)
             VALUES ($1, $2, $3, $2, 'rfi', $2 || '.txt', $4, $5, now(),
                     CASE WHEN $6::text IS NULL THEN 'pending' ELSE 'synced' END, $6)",
        )
        .bind(company)
        .bind(document_id)
        .bind(job)
        .bind(&pages)
        .bind(Uuid::now_v7())
        .bind(notebook)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO ai_embeddings (company_id, document_id, chunk_index, job_id, content, embedding)
             SELECT $1, $2, t.i, $3, t.c, t.e::vector
               FROM unnest($4::int[], $5::text[], $6::text[]) AS t(i, c, e)",
        )
        .bind(company)
        .bind(document_id)
        .bind(job)
        .bind(&indexes)
        .bind(&chunks)
        .bind(&vectors)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        if let Some(notebook) = notebook {
            let url = format!(
                "{}/projects/{PROJECT}/notebooks/{notebook}/sources/{document_id}",
                self.sim
            );
            let added = (self.http.put(url)).json(&json!({"title": document_id, "text": text}));
            added.send().await.unwrap().error_for_status().unwrap();
        }
    }

    /// Sets the simulator's notebook behaviour of [`PROJECT`].
    async fn notebook_behaviour(&self, behaviour: serde_json::Value) {
        let url = format!("{}/admin/projects/{PROJECT}/notebooks", self.sim);
        let set = self.http.put(url).json(&behaviour);
        set.send().await.unwrap().error_for_status().unwrap();
    }

    /// Queries [`PROJECT`]'s notebooks answered so far.
    async fn notebook_queries(&self) -> u64 {
        let url = format!("{}/admin/notebooks", self.sim);
        let counts: serde_json::Value =
            (self.http.get(url).send().await.unwrap().json().await).unwrap();
        counts[PROJECT]["queries_total"].as_u64().unwrap_or(0)
    }

    async fn end(self) {
        self.pool.close().await;
        self.shard.drop_db().await;
        self.topics.delete().await;
    }
}

/// pgvector's text form of a vector.
fn vector_literal(v: &[f32]) -> String {
    let each: Vec<String> = v.iter().map(f32::to_string).collect();
    format!("[{}]", each.join(","))
}

/// A notebook question about `job`.
fn question(company: Uuid, job: &str, prompt: &str) -> AiRequestSubmitted {
    let mut submitted = ask(company, AiRequestKind::NotebookQuery, prompt, Some(job));
    submitted.job_id = Some(job.to_owned());
    submitted
}

/// Submits `requests` and gives each one's completion, in order.
async fn completions(world: &World, requests: &[AiRequestSubmitted]) -> Vec<AiRequestCompleted> {
    publish_all(&world.producer, requests).await;
    let outcomes = answered_once(&world.topics, requests).await;
    (requests.iter())
        .map(|r| match &outcomes[&r.request_id] {
            Event::AiRequestCompleted(c) => c.clone(),
            other => panic!("{}: expected a completion, got {other:?}", r.prompt),
        })
        .collect()
}

/// The meters billed for `request`, once its usage is read.
async fn meters(world: &World, request: Uuid, n: usize) -> Vec<Meter> {
    let usage = read_until(&world.topics, "usage", Duration::from_secs(60), |events| {
        let of = |e: &&Event| matches!(e, Event::UsageRecorded(u) if u.request_id == request);
        events.iter().filter(of).count() >= n
    })
    .await;
    let mut meters: Vec<Meter> = (usage.iter())
        .filter_map(|e| match e {
            Event::UsageRecorded(u) if u.request_id == request => Some(u.meter),
            _ => None,
        })
        .collect();
    meters.sort_by_key(|m| m.as_str());
    meters
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_job_is_answered_by_its_own_notebook_citing_its_matching_document() {
    let world = World::start("engine_nb_hot").await;
    let company = world.company().await;
    let notebook = format!("{company}.job.tower-a.1");
    world.job(company, "tower-a", "hot", Some(&notebook)).await;
    world
        .notebook(company, &notebook, Some("tower-a"), "ready")
        .await;
    let pour = "The concrete pour for level three is scheduled for Tuesday morning.";
    let rebar = "Rebar in the parking deck must be epoxy coated.";
    world
        .document(company, "tower-a", "rfi-12", pour, Some(&notebook))
        .await;
    world
        .document(company, "tower-a", "spec-03", rebar, Some(&notebook))
        .await;
    let _engine = world.engine();

    let asked = question(
        company,
        "tower-a",
        "When is the concrete pour for level three?",
    );
    let done = completions(&world, std::slice::from_ref(&asked)).await;
    let done = &done[0];
    assert_eq!(done.answer_path, AnswerPath::JobNotebook, "{done:?}");
    assert_eq!(done.cited_document_ids, vec!["rfi-12".to_owned()]);
    assert!(done.answer.contains("Tuesday morning"), "{}", done.answer);
    assert_eq!(
        (done.provider.as_str(), done.cloud_project_id.as_deref()),
        ("notebooklm", Some(PROJECT))
    );
    assert!(!done.degraded);
    assert_eq!(world.notebook_queries().await, 1);
    assert_eq!(
        meters(&world, asked.request_id, 1).await,
        vec![Meter::NotebooklmQueries]
    );
    let calls = provider_calls(&world.sim).await;
    assert_eq!(calls.get("gemini"), None, "no chat call: {calls:?}");
    world.end().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_question_about_no_job_asks_the_companys_knowledge_base() {
    let world = World::start("engine_nb_kb").await;
    let company = world.company().await;
    let without = world.company().await; // onboarded before knowledge bases: none
    let setting_up = world.company().await; // its knowledge base has no template embedded yet
    let empty = format!("{setting_up}.kb");
    world
        .job(setting_up, KNOWLEDGE_BASE, "hot", Some(&empty))
        .await;
    world
        .notebook(setting_up, &empty, Some(KNOWLEDGE_BASE), "ready")
        .await;
    let kb = format!("{company}.kb");
    world.job(company, KNOWLEDGE_BASE, "hot", Some(&kb)).await;
    world
        .notebook(company, &kb, Some(KNOWLEDGE_BASE), "ready")
        .await;
    let fall = "Fall protection is required at six feet on construction sites.";
    let rfi = "Number each RFI in sequence per job and log it the day it is sent.";
    for (id, text) in [("template-safety-jha", fall), ("template-rfi", rfi)] {
        world
            .document(company, KNOWLEDGE_BASE, id, text, Some(&kb))
            .await;
    }
    let _engine = world.engine();

    let prompt = "At what height is fall protection required?";
    let asked = [
        ask(company, AiRequestKind::NotebookQuery, prompt, None),
        ask(without, AiRequestKind::NotebookQuery, prompt, None),
        ask(setting_up, AiRequestKind::NotebookQuery, prompt, None),
    ];
    let done = completions(&world, &asked).await;
    assert_eq!(
        done[0].answer_path,
        AnswerPath::KnowledgeBase,
        "{:?}",
        done[0]
    );
    assert_eq!(
        done[0].cited_document_ids,
        vec!["template-safety-jha".to_owned()]
    );
    assert!(done[0].answer.contains("six feet"), "{}", done[0].answer);
    assert_eq!(done[0].provider, "notebooklm");
    for (done, why) in [(&done[1], "no knowledge base"), (&done[2], "being set up")] {
        assert_eq!(
            done.answer_path,
            AnswerPath::Chat,
            "{why}: the prompt alone"
        );
        assert!(done.cited_document_ids.is_empty());
        assert!(
            done.input_tokens > 0,
            "{why}: a chat model answered (billed)"
        );
    }
    assert_eq!(world.notebook_queries().await, 1);
    world.end().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_job_is_answered_by_its_pools_notebook_from_its_own_documents_only() {
    let world = World::start("engine_nb_warm").await;
    let company = world.company().await;
    let pool_notebook = format!("{company}.warm.1");
    world.notebook(company, &pool_notebook, None, "ready").await;
    for job in ["depot-1", "depot-2"] {
        world.job(company, job, "warm", Some(&pool_notebook)).await;
    }
    // Near-identical documents of two jobs in one pool notebook; the other job's matches the
    // question better, so only the filter keeps it out.
    let mine = "The roof membrane of building A was replaced in March.";
    let theirs = "The roof membrane of building A was replaced in March and inspected in April.";
    world
        .document(company, "depot-1", "rfi-1", mine, Some(&pool_notebook))
        .await;
    world
        .document(company, "depot-2", "rfi-2", theirs, Some(&pool_notebook))
        .await;
    let _engine = world.engine();

    let prompt = "When was the roof membrane of building A replaced and inspected?";
    let asked = [
        question(company, "depot-1", prompt),
        question(company, "depot-2", prompt),
    ];
    let done = completions(&world, &asked).await;
    for (done, document) in done.iter().zip(["rfi-1", "rfi-2"]) {
        assert_eq!(done.answer_path, AnswerPath::WarmNotebook, "{done:?}");
        assert_eq!(done.cited_document_ids, vec![document.to_owned()]);
        assert!(!done.degraded);
    }
    assert!(
        !done[0].answer.contains("inspected"),
        "depot-1's answer holds none of depot-2's text: {}",
        done[0].answer
    );
    assert_eq!(world.notebook_queries().await, 2);
    world.end().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_job_is_answered_by_rag_from_its_own_chunks_never_another_jobs_or_companys() {
    let world = World::start("engine_nb_cold").await;
    let (company, other_company) = (world.company().await, world.company().await);
    let crane = "Crane inspection of the east tower passed on Friday.";
    let paint = "Paint colours follow the architect's finish schedule.";
    world.job(company, "yard-1", "cold", None).await;
    world
        .document(company, "yard-1", "daily-7", crane, None)
        .await;
    world
        .document(company, "yard-1", "spec-9", paint, None)
        .await;
    // The same text in another job of the company, and in another company's job of the same
    // id in the same shard: nearer to nothing, but never to be seen.
    world.job(company, "yard-2", "cold", None).await;
    world
        .document(company, "yard-2", "daily-8", crane, None)
        .await;
    world.job(other_company, "yard-1", "cold", None).await;
    world
        .document(other_company, "yard-1", "their-daily-7", crane, None)
        .await;
    // A job whose notebook is being re-created is answered by RAG meanwhile.
    let rebuilt = format!("{company}.job.yard-3.2");
    world
        .job(company, "yard-3", "recreating", Some(&rebuilt))
        .await;
    world
        .notebook(company, &rebuilt, Some("yard-3"), "creating")
        .await;
    world
        .document(company, "yard-3", "daily-9", crane, None)
        .await;
    let _engine = world.engine();

    let prompt = "Did the crane inspection of the east tower pass?";
    let asked = [
        question(company, "yard-1", prompt),
        question(company, "yard-3", prompt),
    ];
    let done = completions(&world, &asked).await;
    let cold = &done[0];
    assert_eq!(cold.answer_path, AnswerPath::Rag, "{cold:?}");
    assert_eq!(
        cold.cited_document_ids,
        vec!["daily-7".to_owned(), "spec-9".to_owned()],
        "the job's own documents, nearest first"
    );
    assert_eq!(
        (cold.provider.as_str(), cold.model.as_str()),
        ("gemini", "gemini-pro-rag")
    );
    assert!(!cold.degraded, "RAG is a cold job's first choice");
    let recreating = &done[1];
    assert_eq!(recreating.answer_path, AnswerPath::Rag);
    assert_eq!(recreating.cited_document_ids, vec!["daily-9".to_owned()]);
    assert!(!recreating.degraded);
    assert_eq!(world.notebook_queries().await, 0, "no notebook was asked");
    assert_eq!(
        meters(&world, asked[0].request_id, 2).await,
        vec![Meter::EmbeddingTokens, Meter::GeminiProQueries],
        "the answer and the question's embedding are billed"
    );
    world.end().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_notebook_service_sends_a_hot_jobs_question_to_rag_degraded() {
    let world = World::start("engine_nb_failing").await;
    let company = world.company().await;
    let notebook = format!("{company}.job.bridge-1.1");
    world.job(company, "bridge-1", "hot", Some(&notebook)).await;
    world
        .notebook(company, &notebook, Some("bridge-1"), "ready")
        .await;
    let bearings = "The bridge bearings arrive on site next Wednesday.";
    world
        .document(company, "bridge-1", "sub-4", bearings, Some(&notebook))
        .await;
    world.notebook_behaviour(json!({"failure_rate": 1.0})).await;
    let _engine = world.engine();

    let asked = question(company, "bridge-1", "When do the bridge bearings arrive?");
    let done = completions(&world, std::slice::from_ref(&asked)).await;
    let done = &done[0];
    assert_eq!(done.answer_path, AnswerPath::Rag, "{done:?}");
    assert!(done.degraded, "RAG stood in for the job's notebook");
    assert_eq!(done.cited_document_ids, vec!["sub-4".to_owned()]);
    assert_eq!(done.provider, "gemini");
    assert_eq!(world.notebook_queries().await, 0);
    world.end().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_without_documents_or_unknown_to_the_shard_gets_the_no_documents_answer() {
    let world = World::start("engine_nb_empty").await;
    let company = world.company().await;
    world.job(company, "empty-1", "cold", None).await;
    let _engine = world.engine();

    let asked = [
        question(company, "empty-1", "Who signed the contract?"),
        question(company, "never-heard-of", "Who signed the contract?"),
    ];
    let done = completions(&world, &asked).await;
    for done in &done {
        assert_eq!(done.answer_path, AnswerPath::Rag, "{done:?}");
        assert!(done.answer.contains("No documents"), "{}", done.answer);
        assert!(done.cited_document_ids.is_empty());
        assert_eq!(done.cloud_project_id, None, "no provider answered");
        assert_eq!(done.cost_micro_usd, 0);
    }
    let calls = provider_calls(&world.sim).await;
    assert!(calls.is_empty(), "no provider was called: {calls:?}");
    world.end().await;
}
