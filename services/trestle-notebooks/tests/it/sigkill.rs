//! The workflow binary SIGKILLed at random points while it creates notebooks and syncs
//! documents (with the notebook service failing some calls): no notebook or source twice,
//! none lost, each outcome on the log once, and the pool's counts equal the simulator's.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use trestle_events::Event;
use trestle_notebooks::NotebooksConfig;
use trestle_testkit::ChildGuard;

use crate::support::{document, job, World};

fn start(config_file: &std::path::Path) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_trestle-notebooks"))
        .arg("--config")
        .arg(config_file)
        .env("RUST_LOG", "error")
        .spawn()
        .expect("start trestle-notebooks");
    ChildGuard(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_at_random_points_no_notebook_or_source_is_made_twice_or_lost() {
    let mut world = World::start("nb_kill").await;
    world.projects(&[("eu-1", 1000)]).await;
    let company = world.company("eu-1").await;
    world
        .sim_behaviour("eu-1", json!({"failure_rate": 0.05}))
        .await;
    let clock = world.run_timers();
    let config = NotebooksConfig {
        // A stable identity: the restarted instance fences the killed one's open transaction.
        instance_id: "notebooks-under-test".into(),
        sync: trestle_notebooks::SyncOptions {
            retry_min_delay_ms: 1_000,
            max_attempts: 20,
            ..Default::default()
        },
        ..world.config()
    };
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(toml::to_string(&config).unwrap().as_bytes())
        .unwrap();

    let jobs: Vec<String> = (0..4).map(|j| format!("job-{j}")).collect();
    let mut events: Vec<Event> = jobs.iter().map(|j| job(company, j)).collect();
    for d in 0..25 {
        for (j, id) in jobs.iter().enumerate() {
            let text = format!("Job {j} sheet {d}: beam B{j}s{d} is 450 mm deep.");
            events.push(document(company, id, &format!("doc-{j}-{d}"), &text));
        }
    }
    let mut workflow = start(file.path());
    for chunk in events.chunks(26) {
        world.publish(chunk).await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(100..600))).await;
        workflow.kill();
        workflow = start(file.path());
    }

    // Retries wait on timers: move the clock on until every document is synced.
    let outcomes = trestle_testkit::wait_for(
        "every document synced",
        Duration::from_secs(240),
        || async {
            clock.advance(chrono::Duration::minutes(10));
            let log = trestle_testkit::read_topic(
                &world.topics.options,
                &world.topics.topic("jobs"),
                events.len(),
                Duration::from_secs(30),
            )
            .await;
            let synced: Vec<(String, String)> = log
                .iter()
                .filter_map(
                    |r| match trestle_events::decode(r.payload.as_deref()?).ok()? {
                        Event::DocumentSynced(s) => Some((s.document_id, s.notebook_id)),
                        _ => None,
                    },
                )
                .collect();
            let distinct: BTreeSet<&String> = synced.iter().map(|(d, _)| d).collect();
            (distinct.len() == 100).then_some(synced)
        },
    )
    .await;
    assert_eq!(outcomes.len(), 100, "each document's DocumentSynced once");

    let created: Vec<String> = world
        .events("notebooks", 4)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::NotebookCreated(n) => Some(n.notebook_id),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 4, "one NotebookCreated per job: {created:?}");
    let sources = world.sim_sources("eu-1").await;
    assert_eq!(sources.len(), 4, "one notebook per job at the provider");
    for (notebook, ids) in &sources {
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "no source twice in {notebook}");
        assert_eq!(ids.len(), 25, "every document of the job in {notebook}");
    }
    assert_eq!(world.pool_agrees_with_simulator(&["eu-1"]).await, vec![4]);
    workflow.kill();
    world.end().await;
}
