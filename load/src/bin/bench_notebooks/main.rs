//! `bench_notebooks`: documents synced per second by the notebook workflow (Kafka → workflow →
//! notebook service → pgvector) against the same calls and inserts made directly, and the RAG
//! retrieval's latency (embed the question, the job's nearest chunks as the tenant) against a
//! raw pgvector query of the same vectors — all in one run on the local stack (see
//! `docs/benchmarks.md`).
//!
//! ```sh
//! cargo run --release -p load --bin bench_notebooks
//! ```
//!
//! Its topics and databases come from the test kit and are dropped at the end. Ratios matter
//! more than absolute figures: the machine is shared and noisy.

#[path = "../bench_projector/environment.rs"]
mod environment;

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use sqlx::PgPool;
use trestle_events::{
    CompanyRegistered, DocumentAdded, DocumentKind, Event, IsolationLevel, JobCreated, Meta,
    Region, TenantProvisioned, Tier,
};
use trestle_kafka::EventProducer;
use trestle_notebooks::client::NotebookService;
use trestle_notebooks::{ledger, NotebooksConfig, ServiceOptions};
use trestle_projector::{ProjectionKind, ProjectorConfig};
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::environment::Environment;

/// Benchmarks the notebook workflow on the local stack (`compose/stack up`).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Companies (one job each at a time; their jobs sync side by side).
    #[arg(long, default_value_t = 20)]
    companies: usize,
    /// Jobs per company.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Documents per job.
    #[arg(long, default_value_t = 25)]
    documents: usize,
    /// Sentences per document (about 80 characters each).
    #[arg(long, default_value_t = 40)]
    sentences: usize,
    /// RAG retrievals timed (each: the question embedded, then the job's nearest chunks).
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Chunks a retrieval returns.
    #[arg(long, default_value_t = 6)]
    k: i64,
    /// Longest wait for the workflow.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
}

struct Corpus {
    /// (company, job id, document id, pages), upload order.
    documents: Vec<(Uuid, String, String, Vec<String>)>,
    jobs: Vec<(Uuid, String)>,
}

fn corpus(args: &Args, seed: u64) -> Corpus {
    let mut rng = fastrand::Rng::with_seed(seed);
    const WORDS: [&str; 16] = [
        "beam", "column", "slab", "rebar", "anchor", "weld", "crane", "pour", "footing", "duct",
        "façade", "joist", "truss", "grout", "brace", "sill",
    ];
    let mut documents = Vec::new();
    let mut jobs = Vec::new();
    for _ in 0..args.companies {
        let company = Uuid::now_v7();
        for j in 0..args.jobs {
            let job = format!("job-{j}");
            jobs.push((company, job.clone()));
            for d in 0..args.documents {
                let text: Vec<String> = (0..args.sentences)
                    .map(|s| {
                        let a = WORDS[rng.usize(..WORDS.len())];
                        let b = WORDS[rng.usize(..WORDS.len())];
                        format!(
                            "Sheet {d} line {s}: the {a} at grid {} meets the {b} of level {}.",
                            rng.u32(1..99),
                            rng.u32(1..12)
                        )
                    })
                    .collect();
                documents.push((
                    company,
                    job.clone(),
                    format!("doc-{j}-{d}"),
                    vec![text.join(" ")],
                ));
            }
        }
    }
    Corpus { documents, jobs }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let topics = TestTopics::create("bench_notebooks", 12).await?;
    let control = TestDb::control("bench_notebooks_c").await?;
    let shard = TestDb::shard("bench_notebooks_s").await?;
    let env = Environment::probe(&shard.options.owner_url).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let config = trestle_provider_sim::SimConfig::default();
        let _ = trestle_provider_sim::serve(listener, &config, std::future::pending()).await;
    });
    let service = NotebookService::new(ServiceOptions {
        base_url: sim_url.clone(),
        ..Default::default()
    })?;
    let shard_pool = trestle_store::connect(&trestle_store::PostgresOptions {
        max_connections: 32,
        ..shard.options.clone()
    })
    .await?;

    let raw_secs = direct(&args, &service, &shard_pool).await?;
    let (wf, wf_secs) = workflow(&args, &topics, &control, &shard, &shard_pool, &sim_url).await?;
    let total = wf.documents.len();
    let (ours, plain) = retrieval(&args, &wf, &service, &shard_pool).await?;
    let pct = |v: &[Duration], p: f64| {
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
    };

    println!(
        "## Notebooks benchmark: {total} documents ({} jobs of {} companies, {} sentences each)\n",
        wf.jobs.len(),
        args.companies,
        args.sentences
    );
    for (k, v) in &env.0 {
        println!("- {k}: {v}");
    }
    println!("\n| measure | workflow | direct | ratio |\n|---|---|---|---|");
    let (wf_rate, raw_rate) = (total as f64 / wf_secs, total as f64 / raw_secs);
    println!(
        "| documents synced per second | {wf_rate:.0} | {raw_rate:.0} | {:.2} |",
        wf_rate / raw_rate
    );
    println!("\n| RAG retrieval, ms ({} queries, k = {}) | retrieval (embed + nearest as the tenant) | raw pgvector query, same vector | ratio |\n|---|---|---|---|", args.queries, args.k);
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            pct(&ours, p),
            pct(&plain, p),
            pct(&ours, p) / pct(&plain, p)
        );
    }
    drop(shard_pool);
    topics.delete().await;
    control.drop_db().await;
    shard.drop_db().await;
    Ok(())
}

/// The baseline: the same calls and inserts, made directly, a job at a time per company;
/// seconds it took.
async fn direct(
    args: &Args,
    service: &NotebookService,
    shard_pool: &PgPool,
) -> anyhow::Result<f64> {
    let raw = corpus(args, 1);
    let started = Instant::now();
    let per_job = raw.jobs.iter().map(|(company, job)| {
        let docs: Vec<_> = raw
            .documents
            .iter()
            .filter(|d| d.0 == *company && d.1 == *job)
            .cloned()
            .collect();
        let (service, pool) = (service.clone(), shard_pool.clone());
        async move {
            let notebook = format!("{company}.job.{job}.1");
            service.create_notebook("raw-1", &notebook, job).await?;
            for (company, job, document, pages) in docs {
                service
                    .put_source(
                        "raw-1",
                        &notebook,
                        &document,
                        &document,
                        &pages.join("\n\n"),
                    )
                    .await?;
                let chunks = trestle_notebooks::chunks(&pages, 1000);
                let embeddings = service.embed(&chunks).await?;
                ledger::store_embeddings(
                    &pool,
                    company,
                    &job,
                    &document,
                    &chunks,
                    &embeddings.vectors,
                )
                .await?;
            }
            anyhow::Ok(())
        }
    });
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(per_job)
        .buffer_unordered(64)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let raw_secs = started.elapsed().as_secs_f64();

    Ok(raw_secs)
}

/// The workflow on the same number of documents, uploaded as events: its corpus and the
/// seconds until every document was synced.
async fn workflow(
    args: &Args,
    topics: &TestTopics,
    control: &TestDb,
    shard: &TestDb,
    shard_pool: &PgPool,
    sim_url: &str,
) -> anyhow::Result<(Corpus, f64)> {
    let producer = EventProducer::new(&topics.options)?;
    let wf = corpus(args, 2);
    let mut companies: Vec<Uuid> = wf.jobs.iter().map(|(c, _)| *c).collect();
    companies.dedup();
    provision(topics, control, &producer, &companies).await?;
    let uploads = uploads(&wf);
    producer.publish_all(&uploads).await?;
    let config = NotebooksConfig {
        kafka: topics.options.clone(),
        group_id: topics.group("notebooks"),
        control: control.options.clone(),
        shards: vec![shard.options.clone()],
        service: ServiceOptions {
            base_url: sim_url.to_owned(),
            ..Default::default()
        },
        ..NotebooksConfig::default()
    };
    let started = Instant::now();
    tokio::spawn(async move { trestle_notebooks::run(config, std::future::pending()).await });
    let total = wf.documents.len();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut last = Instant::now();
    loop {
        let synced = synced(shard_pool, &companies).await?;
        if synced >= total as i64 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {synced} of {total} documents synced in {} s",
            args.timeout_secs
        );
        if last.elapsed() > Duration::from_secs(5) {
            eprintln!("    {synced}/{total} documents synced");
            last = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wf_secs = started.elapsed().as_secs_f64();

    Ok((wf, wf_secs))
}

/// Registers and provisions the companies on shard 0 and runs the routing projection until it
/// knows them all.
async fn provision(
    topics: &TestTopics,
    control: &TestDb,
    producer: &EventProducer,
    companies: &[Uuid],
) -> anyhow::Result<()> {
    let mut setup = Vec::new();
    for company in companies {
        let registered = CompanyRegistered {
            meta: Meta::root(*company),
            name: format!("Bench {company}"),
            tier: Tier::Enterprise,
            country: "DE".into(),
            region: Region::Eu,
            isolation: IsolationLevel::Shared,
        };
        setup.push(Event::TenantProvisioned(TenantProvisioned {
            meta: Meta::caused_by(&registered.meta),
            region: Region::Eu,
            database_shard: 0,
            cloud_project_id: "wf-1".into(),
            isolation_level: IsolationLevel::Shared,
            kb_notebook_id: String::new(),
        }));
        setup.insert(0, registered.into());
    }
    producer.publish_all(&setup).await?;
    let routing = ProjectorConfig {
        kafka: topics.options.clone(),
        postgres: control.options.clone(),
        group_id: topics.group("routing"),
        projection: ProjectionKind::Routing,
        batch_max_wait_ms: 20,
        ..ProjectorConfig::default()
    };
    tokio::spawn(async move { trestle_projector::run(routing, std::future::pending()).await });
    let control_pool = trestle_store::connect(&control.options).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while routed(&control_pool).await? < companies.len() as i64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "routing did not know the companies in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(control_pool);
    Ok(())
}

/// The corpus as events: each job's creation, then its documents.
fn uploads(wf: &Corpus) -> Vec<Event> {
    let mut uploads: Vec<Event> = wf
        .jobs
        .iter()
        .map(|(c, j)| {
            Event::JobCreated(JobCreated {
                meta: Meta::root(*c),
                job_id: j.clone(),
                name: j.clone(),
                created_by: String::new(),
            })
        })
        .collect();
    for (company, job, document, pages) in &wf.documents {
        uploads.push(Event::DocumentAdded(DocumentAdded {
            meta: Meta::root(*company),
            document_id: document.clone(),
            job_id: job.clone(),
            file_name: format!("{document}.txt"),
            content_type: "text/plain".into(),
            size_bytes: pages.iter().map(|p| p.len() as i64).sum(),
            page_count: Some(pages.len() as i32),
            storage_uri: String::new(),
            uploaded_by: String::new(),
            title: document.clone(),
            kind: DocumentKind::Drawing,
            pages: pages.clone(),
        }));
    }
    uploads
}

/// RAG retrieval (embed + nearest as the tenant) and the raw pgvector query of the same vector,
/// timed per query, sorted.
async fn retrieval(
    args: &Args,
    wf: &Corpus,
    service: &NotebookService,
    shard_pool: &PgPool,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut rng = fastrand::Rng::with_seed(3);
    let mut ours = Vec::with_capacity(args.queries);
    let mut plain = Vec::with_capacity(args.queries);
    for _ in 0..args.queries {
        let (company, job, _, pages) = &wf.documents[rng.usize(..wf.documents.len())];
        let question: String = pages[0]
            .split(". ")
            .nth(rng.usize(..args.sentences))
            .unwrap_or("beam")
            .to_owned();
        let t = Instant::now();
        let embedded = service.embed(std::slice::from_ref(&question)).await?;
        let literal = ledger::vector_literal(&embedded.vectors[0]);
        let found = nearest(shard_pool, *company, job, &literal, args.k).await?;
        ours.push(t.elapsed());
        anyhow::ensure!(!found.is_empty(), "a retrieval found no chunk");
        let t = Instant::now();
        nearest(shard_pool, *company, job, &literal, args.k).await?;
        plain.push(t.elapsed());
    }
    ours.sort();
    plain.sort();

    Ok((ours, plain))
}

async fn routed(control: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM tenant_routing WHERE database_shard IS NOT NULL")
        .fetch_one(control)
        .await
        .context("reading tenant_routing")
}

async fn synced(shard: &PgPool, companies: &[Uuid]) -> anyhow::Result<i64> {
    let mut total = 0;
    for company in companies {
        let mut tx = trestle_store::begin_for_tenant(shard, *company).await?;
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM job_documents WHERE sync_state = 'synced'")
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        total += n;
    }
    Ok(total)
}

/// The job's `k` nearest chunks to the vector, as the tenant.
async fn nearest(
    shard: &PgPool,
    company: Uuid,
    job: &str,
    vector: &str,
    k: i64,
) -> anyhow::Result<Vec<String>> {
    let mut tx = trestle_store::begin_for_tenant(shard, company).await?;
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT document_id FROM ai_embeddings WHERE company_id = $1 AND job_id = $2
          ORDER BY embedding <=> $3::vector LIMIT $4",
    )
    .bind(company)
    .bind(job)
    .bind(vector)
    .bind(k)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}
