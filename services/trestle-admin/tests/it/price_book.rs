//! `trestle-admin price-book publish`: a price change goes on the log as an event, and only
//! as a newer version than the latest one there.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use trestle_events::Event;
use trestle_testkit::TestTopics;

use crate::{admin, text};

fn publish(topics: &TestTopics, file: &Path) -> Output {
    admin(
        topics,
        &["price-book", "publish", "--file", file.to_str().unwrap()],
    )
}

/// The example file with its version and effective date replaced.
fn example(dir: &Path, version: i32, effective_from: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/price-book.example.toml"
    ))
    .unwrap()
    .replace("version = 1\n", &format!("version = {version}\n"))
    .replace(
        "effective_from = 2026-01-01\n",
        &format!("effective_from = {effective_from}\n"),
    );
    let path = dir.join(format!("v{version}-{effective_from}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_only_a_version_newer_than_the_latest_on_the_topic() {
    let topics = TestTopics::create("admin_price_book", 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let first = publish(&topics, &example(dir.path(), 1, "2026-01-01"));
    assert!(first.status.success(), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    assert!(out.contains("published price book version 1"), "{out}");
    assert!(
        out.contains("professional") && out.contains("$199.000000"),
        "{out}"
    );

    // The same version again, read back from the topic: refused.
    let again = publish(&topics, &example(dir.path(), 1, "2026-01-01"));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("not greater than the latest published version 1"),
        "{}",
        text(&again.stderr)
    );
    // A newer version starting before the latest one: refused.
    let earlier = publish(&topics, &example(dir.path(), 2, "2025-12-01"));
    assert!(!earlier.status.success());
    assert!(
        text(&earlier.stderr).contains("before"),
        "{}",
        text(&earlier.stderr)
    );
    // Not the first of a month: refused before anything is read or published.
    let mid = publish(&topics, &example(dir.path(), 2, "2026-02-15"));
    assert!(!mid.status.success());
    assert!(
        text(&mid.stderr).contains("not the start of a month"),
        "{}",
        text(&mid.stderr)
    );

    let second = publish(&topics, &example(dir.path(), 2, "2026-02-01"));
    assert!(second.status.success(), "{}", text(&second.stderr));
    let latest = admin(&topics, &["price-book", "latest"]);
    assert!(text(&latest.stdout).contains("version 2, effective from 2026-02-01"));

    let records = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("price-books"),
        2,
        Duration::from_secs(30),
    )
    .await;
    let versions: Vec<(Option<Vec<u8>>, i32)> = records
        .into_iter()
        .map(
            |r| match trestle_events::decode(&r.payload.unwrap()).unwrap() {
                Event::PriceBookPublished(b) => {
                    assert!(b.meta.is_platform());
                    (r.key, b.version)
                }
                other => panic!("{other:?}"),
            },
        )
        .collect();
    let key = Some(b"price-book".to_vec());
    assert_eq!(versions, vec![(key.clone(), 1), (key, 2)]);

    topics.delete().await;
}
