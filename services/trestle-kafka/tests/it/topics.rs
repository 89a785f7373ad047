//! topics.toml: well-formed, consistent with the schemas, and applied idempotently.

use trestle_kafka::topics::{self, Change};

#[test]
fn every_value_schema_in_topics_toml_is_an_event_of_that_topic() {
    for spec in topics::builtin() {
        for value in &spec.values {
            let topic = trestle_events::Event::topic_of(value)
                .unwrap_or_else(|| panic!("{} lists {value}, which has no schema", spec.name));
            assert_eq!(
                topic.name(),
                spec.name,
                "{value} is declared on another topic"
            );
        }
    }
    for name in trestle_events::Event::NAMES {
        let topic = trestle_events::Event::topic_of(name).unwrap();
        let spec = topics::builtin()
            .into_iter()
            .find(|s| s.name == topic.name());
        let spec = spec
            .unwrap_or_else(|| panic!("topic {} of {name} is not in topics.toml", topic.name()));
        assert!(
            spec.values.iter().any(|v| v == name),
            "topics.toml does not list {name} on {}",
            spec.name
        );
    }
}

#[test]
fn a_topic_without_partitions_is_rejected() {
    let text = "[defaults]\nreplication_factor = 1\npartitions = 0\ncleanup_policy = \"delete\"\nretention_ms = 1\nkey = \"k\"\n[[topic]]\nname = \"x\"\nvalues = []\n";
    let err = topics::parse(text).unwrap_err().to_string();
    assert!(err.contains("at least one partition"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn applying_twice_changes_nothing_and_raising_partitions_adds_them() {
    let test = trestle_testkit::TestTopics::create("topics_apply", 2)
        .await
        .unwrap();
    let again = topics::apply(&test.options, &test.specs).await.unwrap();
    assert!(
        again
            .iter()
            .all(|(_, c)| matches!(c, Change::Unchanged { partitions: 2 })),
        "{again:?}"
    );

    let mut raised = test.specs.clone();
    raised[0].partitions = 4;
    let changes = topics::apply(&test.options, &raised).await.unwrap();
    let first = test.topic(&raised[0].name);
    assert!(
        changes.contains(&(first.clone(), Change::PartitionsAdded { from: 2, to: 4 })),
        "{changes:?}"
    );

    raised[0].partitions = 3;
    let changes = topics::apply(&test.options, &raised).await.unwrap();
    assert!(
        changes.contains(&(first, Change::CannotShrink { broker: 4, file: 3 })),
        "{changes:?}"
    );
    test.delete().await;
}
