//! Errors that tell the analyst what to do next.

use trestle_kafka::KafkaOptions;
use trestle_replay::{Error, ReplayOptions, Topics};

use crate::day;

async fn fails(options: ReplayOptions) -> Error {
    let mut out = Vec::new();
    trestle_replay::replay(options, &mut out)
        .await
        .expect_err("the replay fails")
}

#[tokio::test]
async fn an_unknown_topic_lists_the_topics_of_topics_toml() {
    let (from, to) = day();
    let o = ReplayOptions::new(
        KafkaOptions::default(),
        Topics::Named(vec!["usages".into()]),
        from,
        to,
    );
    let message = fails(o).await.to_string();
    assert!(message.contains("unknown topic `usages`"), "{message}");
    for topic in trestle_kafka::topics::builtin() {
        assert!(
            message.contains(&topic.name),
            "{message} lists {}",
            topic.name
        );
    }
}

#[tokio::test]
async fn company_on_a_topic_not_keyed_by_company_is_refused() {
    let (from, to) = day();
    let mut o = ReplayOptions::new(
        KafkaOptions::default(),
        Topics::Named(vec!["providers".into()]),
        from,
        to,
    );
    o.company = Some(uuid::Uuid::now_v7());
    let error = fails(o).await;
    assert!(matches!(error, Error::NotKeyedByCompany { .. }), "{error}");
}

#[tokio::test]
async fn an_empty_range_is_refused() {
    let (from, _) = day();
    let o = ReplayOptions::new(KafkaOptions::default(), Topics::All, from, from);
    assert!(matches!(fails(o).await, Error::EmptyRange { .. }));
}

#[tokio::test]
async fn an_unreachable_kafka_says_to_bring_the_stack_up() {
    let (from, to) = day();
    let kafka = KafkaOptions {
        // Nothing listens on port 1 of loopback.
        bootstrap_servers: "127.0.0.1:1".into(),
        ..KafkaOptions::default()
    };
    let o = ReplayOptions::new(kafka, Topics::Named(vec!["usage".into()]), from, to);
    let message = fails(o).await.to_string();
    assert!(message.contains("compose/stack up"), "{message}");
}

#[tokio::test]
async fn a_missing_topic_says_how_to_create_it() {
    let (from, to) = day();
    let kafka = KafkaOptions {
        bootstrap_servers: trestle_testkit::kafka_bootstrap(),
        topic_prefix: format!("t.{}.", trestle_testkit::unique("replay_missing")),
        ..KafkaOptions::default()
    };
    let o = ReplayOptions::new(kafka, Topics::Named(vec!["usage".into()]), from, to);
    let error = fails(o).await;
    assert!(matches!(error, Error::MissingTopic { .. }), "{error}");
    assert!(
        error.to_string().contains("trestle-admin topics"),
        "{error}"
    );
}
