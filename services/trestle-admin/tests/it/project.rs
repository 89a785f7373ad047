//! `trestle-admin project add`: a cloud project registered by an operator is on
//! `cloud-projects`, keyed by the project, platform-scoped.

use std::time::Duration;

use trestle_events::{CloudProjectRegistered, Event, Region};
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::{admin, text};

#[tokio::test(flavor = "multi_thread")]
async fn project_add_publishes_the_project_keyed_by_its_id() {
    let topics = TestTopics::create("admin_project_add", 2).await.unwrap();
    let company = Uuid::now_v7();
    let company_arg = company.to_string();
    let runs: [&[&str]; 2] = [
        &["project", "add", "gcp-eu-9", "--region", "eu"],
        &[
            "project",
            "add",
            "gcp-apac-d1",
            "--region",
            "apac",
            "--limit",
            "500",
            "--dedicated-to",
            &company_arg,
        ],
    ];
    for args in runs {
        let out = admin(&topics, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    for refused in [
        &["project", "add", "gcp-x", "--region", "mars"][..],
        &["project", "add", "gcp-x", "--region", "eu", "--limit", "-1"][..],
    ] {
        let out = admin(&topics, refused);
        assert!(!out.status.success(), "{refused:?}");
    }

    let records = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("cloud-projects"),
        2,
        Duration::from_secs(30),
    )
    .await;
    let mut projects: Vec<(Option<Vec<u8>>, CloudProjectRegistered)> = records
        .into_iter()
        .map(
            |r| match trestle_events::decode(&r.payload.unwrap()).unwrap() {
                Event::CloudProjectRegistered(p) => (r.key, p),
                other => panic!("{other:?}"),
            },
        )
        .collect();
    projects.sort_by(|a, b| a.1.cloud_project_id.cmp(&b.1.cloud_project_id));
    let summary: Vec<_> = projects
        .iter()
        .map(|(key, p)| {
            assert!(p.meta.is_platform());
            (
                key.clone(),
                p.cloud_project_id.as_str(),
                p.region,
                p.notebook_limit,
                p.dedicated_company_id,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                Some(b"gcp-apac-d1".to_vec()),
                "gcp-apac-d1",
                Region::Apac,
                500,
                Some(company)
            ),
            (
                Some(b"gcp-eu-9".to_vec()),
                "gcp-eu-9",
                Region::Eu,
                50_000,
                None
            ),
        ]
    );
    topics.delete().await;
}
