//! `trestle-admin company register`: a company registered by an operator is on `tenants`, keyed
//! by its new id, in the region the configured table gives its country; a refused registration
//! publishes nothing.

use std::time::Duration;

use trestle_events::{Event, IsolationLevel, Region, Tier};
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::{admin, admin_with_env, text};

/// The `company_id` and `region` lines of `company register`'s output.
fn printed(stdout: &str) -> (Uuid, String) {
    let value = |label: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} line in {stdout}"))
            .trim()
            .to_owned()
    };
    (value("company_id ").parse().unwrap(), value("region "))
}

#[tokio::test(flavor = "multi_thread")]
async fn company_register_publishes_the_company_in_its_countrys_region() {
    let topics = TestTopics::create("admin_company", 2).await.unwrap();

    let dedicated = admin(
        &topics,
        &[
            "company",
            "register",
            "--name",
            "Hochtief Nord",
            "--country",
            "de",
            "--tier",
            "enterprise",
            "--isolation",
            "dedicated",
        ],
    );
    assert!(dedicated.status.success(), "{}", text(&dedicated.stderr));
    let (first, region) = printed(&text(&dedicated.stdout));
    assert_eq!(region, "eu");

    // The region table is the admin config's: ZA is placed only because it is configured.
    let configured = admin_with_env(
        &topics,
        &[
            "company",
            "register",
            "--name",
            "Cape Build",
            "--country",
            "ZA",
            "--tier",
            "starter",
        ],
        &[("TRESTLE_REGIONS__COUNTRIES__ZA", "apac")],
    );
    assert!(configured.status.success(), "{}", text(&configured.stderr));
    let (second, region) = printed(&text(&configured.stdout));
    assert_eq!(region, "apac");

    // Refused, naming the field, and nothing published: dedicated below enterprise, a country
    // outside the default table.
    for (args, mentions) in [
        (
            [
                "--country",
                "DE",
                "--tier",
                "premium",
                "--isolation",
                "dedicated",
            ],
            "isolation",
        ),
        (
            [
                "--country",
                "ZA",
                "--tier",
                "premium",
                "--isolation",
                "shared",
            ],
            "ZA",
        ),
    ] {
        let mut all = vec!["company", "register", "--name", "Acme"];
        all.extend(args);
        let refused = admin(&topics, &all);
        assert!(!refused.status.success(), "{all:?}");
        assert!(
            text(&refused.stderr).contains(mentions),
            "{}",
            text(&refused.stderr)
        );
    }

    let records = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("tenants"),
        2,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(records.len(), 2, "one event per accepted registration");
    let mut seen = Vec::new();
    for record in records {
        let Event::CompanyRegistered(event) =
            trestle_events::decode(record.payload.as_deref().unwrap()).unwrap()
        else {
            panic!("expected CompanyRegistered")
        };
        let key = event.meta.company_id.to_string();
        assert_eq!(record.key.as_deref(), Some(key.as_bytes()));
        seen.push((
            event.meta.company_id,
            event.name,
            event.country,
            event.tier,
            event.region,
            event.isolation,
        ));
    }
    seen.sort_by_key(|s| s.0 != first);
    assert_eq!(
        seen,
        vec![
            (
                first,
                "Hochtief Nord".to_string(),
                "DE".to_string(),
                Tier::Enterprise,
                Region::Eu,
                IsolationLevel::Dedicated
            ),
            (
                second,
                "Cape Build".to_string(),
                "ZA".to_string(),
                Tier::Starter,
                Region::Apac,
                IsolationLevel::Shared
            ),
        ]
    );
    topics.delete().await;
}
