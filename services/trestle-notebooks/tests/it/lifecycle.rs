//! A job's notebook down the tiers and back, on the timer service's clock (no test waits for
//! a timer's time): completed → warm pools of at most 10 jobs after 30 days → cold (notebooks
//! deleted, embeddings kept) after 6 months → reopened, re-created, or its notebook asked for
//! (re-created, still completed, demoted again on the clock); the pool's counts equal the
//! simulator's at each stage.

use std::collections::BTreeSet;

use chrono::Duration;
use trestle_events::{Event, NotebookPurpose, NotebookTier};

use crate::support::{completed, document, job, notebook_requested, reopened, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_jobs_go_warm_then_cold_on_the_clock_and_a_reopened_one_comes_back_hot() {
    let mut world = World::start("nb_lifecycle").await;
    world.projects(&[("eu-1", 1000)]).await;
    let company = world.company("eu-1").await;
    let clock = world.run_timers();
    world.run_workflow(world.config());

    // 12 jobs of 2 documents; 11 are completed, and one of those reopened before it goes warm.
    let jobs: Vec<String> = (0..12).map(|j| format!("job-{j:02}")).collect();
    let mut events = Vec::new();
    for (j, id) in jobs.iter().enumerate() {
        events.push(job(company, id));
        for d in 0..2 {
            let text = format!("Job {j} note {d}: the crane for lift L{j}n{d} is booked.");
            events.push(document(company, id, &format!("doc-{j}-{d}"), &text));
        }
    }
    world.publish(&events).await;
    world.wait_tier(company, &jobs, "hot").await;
    world.events("jobs", events.len() + 2 * 24).await; // every document synced
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![12]);

    let done: Vec<String> = jobs[..11].to_vec();
    let closing: Vec<Event> = done.iter().map(|j| completed(company, j)).collect();
    world.publish(&closing).await;
    world.events("timers", 2 * 11).await; // each completion scheduled warm and cold
    world.publish(&[reopened(company, &jobs[10])]).await;
    let warm: Vec<String> = jobs[..10].to_vec();

    // +31 days: ten jobs share one warm pool; the reopened one and the open one stay hot.
    clock.advance(Duration::days(31));
    world.wait_tier(company, &warm, "warm").await;
    let tiers = world.tiers(company).await;
    let pools: BTreeSet<String> = warm.iter().map(|j| tiers[j].1.clone().unwrap()).collect();
    assert_eq!(pools.len(), 1, "ten jobs fit one warm pool: {tiers:?}");
    let pool = pools.into_iter().next().unwrap();
    assert_eq!(
        tiers[&jobs[10]].0, "hot",
        "reopened before the timer: not demoted"
    );
    assert_eq!(tiers[&jobs[11]].0, "hot");
    let sources = world.sim_sources("eu-1").await;
    assert_eq!(
        sources[&pool].len(),
        20,
        "every warm job's documents are in the pool"
    );
    // 2 own notebooks + 1 pool
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![3]);
    let cited = world
        .ask("eu-1", &pool, "Which crane is booked for lift L3n1?")
        .await;
    assert_eq!(cited.first().map(String::as_str), Some("doc-3-1"));

    // +6 months: the warm jobs are cold, the pool is deleted, the embeddings stay.
    clock.advance(Duration::days(160));
    world.wait_tier(company, &warm, "cold").await;
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![2]);
    assert!(!world.sim_sources("eu-1").await.contains_key(&pool));
    let shard = trestle_store::connect(&world.shard.options).await.unwrap();
    let mut tx = trestle_store::begin_for_tenant(&shard, company)
        .await
        .unwrap();
    let embedded: i64 = sqlx::query_scalar("SELECT count(DISTINCT document_id) FROM ai_embeddings")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(embedded, 24, "cold jobs keep their embeddings");

    // Reopening a cold job gives it a notebook of its own again, with its documents.
    world.publish(&[reopened(company, &jobs[3])]).await;
    world.wait_tier(company, &jobs[3..4], "hot").await;
    let tiers = world.tiers(company).await;
    let own = tiers[&jobs[3]].1.clone().unwrap();
    assert!(own.ends_with(".2"), "a new generation: {own}");
    let sources = world.sim_sources("eu-1").await;
    assert_eq!(
        sources[&own],
        vec!["doc-3-0".to_owned(), "doc-3-1".to_owned()]
    );
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![3]);

    // The log tells the story: one pool created, ten demotions to warm and to cold, one
    // re-creation; every notebook created is either archived or still live.
    // 12 created, 1 pool, 10 demoted and 10 archived (warm), 10 demoted (cold), the pool
    // archived, 1 re-created.
    let log = world
        .events("notebooks", 12 + 1 + 10 + 10 + 10 + 1 + 1)
        .await;
    let count = |f: &dyn Fn(&Event) -> bool| log.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(
            &|e| matches!(e, Event::NotebookCreated(n) if n.purpose == NotebookPurpose::WarmPool)
        ),
        1
    );
    assert_eq!(
        count(&|e| matches!(e, Event::NotebookDemoted(d) if d.to_tier == NotebookTier::Warm)),
        10
    );
    assert_eq!(
        count(&|e| matches!(e, Event::NotebookDemoted(d) if d.to_tier == NotebookTier::Cold)),
        10
    );
    assert_eq!(count(&|e| matches!(e, Event::NotebookRecreated(_))), 1);
    let created = count(&|e| matches!(e, Event::NotebookCreated(_) | Event::NotebookRecreated(_)));
    let archived = count(&|e| matches!(e, Event::NotebookArchived(_)));
    assert_eq!(
        created - archived,
        3,
        "live notebooks: jobs 10, 11 and the re-created 3"
    );

    // A cold job's notebook asked for: re-created with its documents, the job still completed,
    // so it goes warm again 30 days after the request — while the reopened job stays hot.
    let request = notebook_requested(company, &jobs[4], clock.now());
    world.publish(&[request]).await;
    world.wait_tier(company, &jobs[4..5], "hot").await;
    let own = world.tiers(company).await[&jobs[4]].1.clone().unwrap();
    assert!(own.ends_with(".2"), "a new generation: {own}");
    let sources = world.sim_sources("eu-1").await;
    assert_eq!(
        sources[&own],
        vec!["doc-4-0".to_owned(), "doc-4-1".to_owned()]
    );
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![4]);
    clock.advance(Duration::days(31));
    world.wait_tier(company, &jobs[4..5], "warm").await;
    let tiers = world.tiers(company).await;
    assert_eq!(tiers[&jobs[3]].0, "hot", "reopened: active, never demoted");
    let pool = tiers[&jobs[4]].1.clone().unwrap();
    assert_eq!(world.sim_sources("eu-1").await[&pool].len(), 2);
    // jobs 10, 11 and 3 with their own, job 4 in a new warm pool
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![4]);
    world.end().await;
}
