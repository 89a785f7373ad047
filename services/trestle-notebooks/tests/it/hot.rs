//! Hot notebooks: a job's first event creates its notebook in the company's cloud project (or
//! the next of its region with room), and each document is synced into it once and embedded.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use trestle_events::{Event, NotebookPurpose};

use crate::support::{document, job, World};

fn text(job: usize, doc: usize) -> String {
    format!(
        "Pour {doc} of job {job} uses concrete mix M{job}x{doc}q. \
         The inspector signed pour {doc} on site."
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_document_is_synced_once_into_its_jobs_notebook_and_embedded() {
    let mut world = World::start("nb_hot_sync").await;
    world.projects(&[("eu-1", 100)]).await;
    let company = world.company("eu-1").await;
    world.run_workflow(world.config());
    let mut events = Vec::new();
    for j in 0..3 {
        events.push(job(company, &format!("job-{j}")));
    }
    for d in 0..20 {
        for j in 0..3 {
            let id = format!("doc-{j}-{d}");
            events.push(document(company, &format!("job-{j}"), &id, &text(j, d)));
        }
    }
    world.publish(&events).await;

    // The uploads, then a sync request and a sync per document.
    let synced = world.events("jobs", events.len() + 2 * 60).await;
    let synced: Vec<_> = synced
        .iter()
        .filter_map(|e| match e {
            Event::DocumentSynced(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(synced.len(), 60, "one DocumentSynced per document");
    let notebooks = world.events("notebooks", 3).await;
    let created: BTreeMap<String, String> = notebooks
        .iter()
        .map(|e| match e {
            Event::NotebookCreated(n) => {
                assert_eq!(n.purpose, NotebookPurpose::Job);
                assert_eq!(n.cloud_project_id, "eu-1");
                (n.job_id.clone().unwrap(), n.notebook_id.clone())
            }
            other => panic!("unexpected {}", other.name()),
        })
        .collect();
    assert_eq!(created.len(), 3, "one notebook per job: {created:?}");

    // The simulator holds exactly the documents, each in its job's notebook.
    let sources = world.sim_sources("eu-1").await;
    assert_eq!(sources.len(), 3);
    for (j, notebook) in created.values().enumerate() {
        let want: BTreeSet<String> = (0..20).map(|d| format!("doc-{j}-{d}")).collect();
        let have: BTreeSet<String> = sources[notebook].iter().cloned().collect();
        assert_eq!(sources[notebook].len(), 20, "no source twice");
        assert_eq!(have, want, "job-{j}'s notebook holds job-{j}'s documents");
    }
    for s in &synced {
        assert_eq!(s.notebook_id, created[&s.job_id]);
    }

    // A question about one document is answered from it, and only from its job.
    for (j, d) in [(0, 7), (2, 19), (1, 0)] {
        let notebook = &created[&format!("job-{j}")];
        let cited = world
            .ask("eu-1", notebook, &format!("Which pour uses mix M{j}x{d}q?"))
            .await;
        assert_eq!(cited.first(), Some(&format!("doc-{j}-{d}")), "{cited:?}");
        assert!(cited.iter().all(|c| c.starts_with(&format!("doc-{j}-"))));
    }

    // Every document's chunks are embedded under its job, readable only as the company.
    let shard = trestle_store::connect(&world.shard.options).await.unwrap();
    let mut tx = trestle_store::begin_for_tenant(&shard, company)
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT job_id, document_id, content FROM ai_embeddings ORDER BY document_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let docs: BTreeSet<&str> = rows.iter().map(|(_, d, _)| d.as_str()).collect();
    assert_eq!(docs.len(), 60);
    for (job_id, document_id, content) in &rows {
        assert!(document_id.starts_with(&format!("doc-{}-", &job_id[4..])));
        assert!(content.contains("concrete mix"), "{content}");
    }
    let other = trestle_store::begin_for_tenant(&shard, uuid::Uuid::now_v7()).await;
    let mut other = other.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM ai_embeddings")
        .fetch_one(&mut *other)
        .await
        .unwrap();
    assert_eq!(seen, 0, "another company sees none of them");
    drop(other);
    world.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_project_sends_new_notebooks_to_the_next_project_of_the_region() {
    let mut world = World::start("nb_hot_full").await;
    world.projects(&[("eu-home", 1), ("eu-next", 10)]).await;
    let company = world.company("eu-home").await;
    world.run_workflow(world.config());
    world
        .publish(&[job(company, "a"), job(company, "b"), job(company, "c")])
        .await;
    let notebooks = world.events("notebooks", 3).await;
    let mut per_project: BTreeMap<String, usize> = BTreeMap::new();
    for e in &notebooks {
        if let Event::NotebookCreated(n) = e {
            *per_project.entry(n.cloud_project_id.clone()).or_default() += 1;
        }
    }
    assert_eq!(
        per_project,
        BTreeMap::from([("eu-home".into(), 1), ("eu-next".into(), 2)])
    );
    // The simulator agrees, and so does the capacity ledger.
    assert_eq!(world.sim_sources("eu-home").await.len(), 1);
    assert_eq!(world.sim_sources("eu-next").await.len(), 2);
    let control = trestle_store::connect(&world.control.options)
        .await
        .unwrap();
    let live: Vec<(String, i32)> = sqlx::query_as(
        "SELECT cloud_project_id, live FROM notebook_capacity ORDER BY cloud_project_id",
    )
    .fetch_all(&control)
    .await
    .unwrap();
    assert_eq!(live, vec![("eu-home".into(), 1), ("eu-next".into(), 2)]);
    world.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notebook_at_its_source_limit_fails_the_next_document_with_an_event() {
    let mut world = World::start("nb_hot_limit").await;
    world.projects(&[("eu-1", 100)]).await;
    let company = world.company("eu-1").await;
    world
        .sim_behaviour("eu-1", json!({"sources_per_notebook": 2}))
        .await;
    world.run_workflow(world.config());
    let events = [
        job(company, "j"),
        document(company, "j", "d1", "First drawing."),
        document(company, "j", "d2", "Second drawing."),
        document(company, "j", "d3", "Third drawing."),
    ];
    world.publish(&events).await;
    let outcomes =
        trestle_testkit::wait_for("three sync outcomes", Duration::from_secs(60), || async {
            let all = world.events("jobs", 4).await;
            let outcomes: Vec<Event> = all
                .into_iter()
                .filter(|e| matches!(e, Event::DocumentSynced(_) | Event::DocumentSyncFailed(_)))
                .collect();
            (outcomes.len() >= 3).then_some(outcomes)
        })
        .await;
    let failed: Vec<_> = outcomes
        .iter()
        .filter_map(|e| match e {
            Event::DocumentSyncFailed(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{outcomes:?}");
    assert_eq!(failed[0].document_id, "d3");
    assert!(!failed[0].retryable, "a full notebook is not retried");
    assert!(failed[0].reason.contains("full"), "{}", failed[0].reason);
    let sources = world.sim_sources("eu-1").await;
    assert_eq!(
        sources.values().next().unwrap(),
        &vec!["d1".to_owned(), "d2".to_owned()]
    );
    world.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_companies_with_the_same_job_and_document_ids_never_share_a_notebook() {
    let mut world = World::start("nb_hot_tenants").await;
    world.projects(&[("eu-1", 100)]).await;
    let a = world.company("eu-1").await;
    let b = world.company("eu-1").await;
    world.run_workflow(world.config());
    let text = |who: &str| format!("The {who} site uses anchor bolts of grade 8.8 on level 2.");
    world
        .publish(&[
            job(a, "job-1"),
            job(b, "job-1"),
            document(a, "job-1", "doc-1", &text("north")),
            document(b, "job-1", "doc-1", &text("south")),
        ])
        .await;
    world.events("jobs", 4 + 2 * 2).await;
    let sources = world.sim_sources("eu-1").await;
    assert_eq!(
        sources.len(),
        2,
        "a notebook per company's job: {sources:?}"
    );
    for (company, who, other) in [(a, "north", "south"), (b, "south", "north")] {
        let notebook = sources
            .keys()
            .find(|n| n.starts_with(&company.to_string()))
            .expect("the company's notebook");
        let answer: serde_json::Value = world
            .http
            .post(format!(
                "{}/projects/eu-1/notebooks/{notebook}/query",
                world.sim_url
            ))
            .json(&json!({"question": "Which anchor bolts are used on level 2?"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let said = answer["answer"].as_str().unwrap();
        assert!(said.contains(who), "{said}");
        assert!(
            !said.contains(other),
            "never the other company's text: {said}"
        );
    }
    world.end().await;
}
