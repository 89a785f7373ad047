//! The knowledge base (AI initialisation): a provisioned company's request gives it one
//! notebook in its cloud project, seeded with every template, each synced and embedded once,
//! and `CompanyReady`; the notebook answers from the templates.

use std::collections::BTreeSet;
use std::time::Duration;

use trestle_events::{Event, KnowledgeBaseRequested, Meta, NotebookPurpose};
use uuid::Uuid;

use crate::support::World;

fn requested(company: Uuid) -> Event {
    Event::KnowledgeBaseRequested(KnowledgeBaseRequested {
        meta: Meta::root(company),
        notebook_id: format!("{company}.kb"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_company_gets_one_knowledge_base_seeded_with_the_templates() {
    let mut world = World::start("nb_kb").await;
    world.projects(&[("eu-1", 1000)]).await;
    let company = world.company("eu-1").await;
    let other = world.company("eu-1").await;
    // The provider takes a while to create a notebook: the request waits for it.
    world
        .sim_behaviour(
            "eu-1",
            serde_json::json!({"create_latency_ms": 300, "create_jitter_ms": 0}),
        )
        .await;
    world.run_workflow(world.config());
    // Requested twice (a second onboarding record, a replay): set up once.
    world
        .publish(&[requested(company), requested(other), requested(company)])
        .await;

    let templates: BTreeSet<String> = trestle_notebooks::template_ids()
        .map(str::to_owned)
        .collect();
    let kb = format!("{company}.kb");
    let sources = trestle_testkit::wait_for(
        "the knowledge base to hold every template",
        Duration::from_secs(90),
        || async {
            let sources = world.sim_sources("eu-1").await;
            let seeded = |id: &str| {
                let held: BTreeSet<String> = sources.get(id)?.iter().cloned().collect();
                (held == templates).then_some(())
            };
            seeded(&kb)?;
            seeded(&format!("{other}.kb"))?;
            Some(sources)
        },
    )
    .await;
    assert_eq!(sources.len(), 2, "one notebook per company: {sources:?}");
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![2]);

    let cited = world
        .ask("eu-1", &kb, "At what height is fall protection required?")
        .await;
    assert_eq!(
        cited.first().map(String::as_str),
        Some("template-safety-jha")
    );

    // Every template synced exactly once, for each company.
    let per_company = 2 * templates.len();
    // 3 requests, 2 × (templates added, sync requested, synced)
    let jobs = world.events("jobs", 3 + 3 * per_company).await;
    let synced: Vec<(Uuid, String)> = (jobs.iter())
        .filter_map(|e| match e {
            Event::DocumentSynced(s) => Some((s.meta.company_id, s.document_id.clone())),
            _ => None,
        })
        .collect();
    let distinct: BTreeSet<_> = synced.iter().cloned().collect();
    assert_eq!(synced.len(), per_company, "{synced:?}");
    assert_eq!(distinct.len(), per_company);

    let notebooks = world.events("notebooks", 2).await;
    let created: Vec<_> = (notebooks.iter())
        .filter_map(|e| match e {
            Event::NotebookCreated(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(created
        .iter()
        .all(|n| n.purpose == NotebookPurpose::KnowledgeBase && n.job_id.is_none()));

    let tenants = world.events("tenants", 4 + 2).await;
    let ready: Vec<_> = (tenants.iter())
        .filter_map(|e| match e {
            Event::CompanyReady(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(ready.len(), 2, "one CompanyReady per company: {ready:?}");
    let mine = ready.iter().find(|r| r.meta.company_id == company).unwrap();
    assert_eq!(mine.kb_notebook_id, kb);
    assert_eq!(mine.cloud_project_id, "eu-1");
    assert_eq!(mine.templates as usize, templates.len());

    // The templates' chunks are the company's, under the knowledge base's scope.
    let shard = trestle_store::connect(&world.shard.options).await.unwrap();
    let mut tx = trestle_store::begin_for_tenant(&shard, company)
        .await
        .unwrap();
    let scopes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT job_id, count(DISTINCT document_id) FROM ai_embeddings GROUP BY job_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        scopes,
        vec![(
            trestle_notebooks::KNOWLEDGE_BASE.to_owned(),
            templates.len() as i64
        )]
    );
    world.end().await;
}
