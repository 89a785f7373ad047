//! What a replay must not disturb or see: consumer groups and aborted transactions.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use trestle_testkit::TestTopics;

use crate::{
    around_now, at, company_on, day, options, parse_lines, producer, publish_at, run, usage,
    TxnProducer, PARTITIONS,
};

/// Every consumer group the broker knows, by name.
fn group_names(consumer: &BaseConsumer) -> Vec<String> {
    consumer
        .fetch_group_list(None, Duration::from_secs(10))
        .unwrap()
        .groups()
        .iter()
        .map(|g| g.name().to_owned())
        .collect()
}

/// The committed offsets of `group` for every partition of `topic`.
fn committed(topics: &TestTopics, group: &str, topic: &str) -> Vec<Offset> {
    let consumer: BaseConsumer = topics.options.consumer_config(group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    got.elements().iter().map(|e| e.offset()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn does_not_join_or_commit_to_any_consumer_group() {
    let topics = TestTopics::create("replay_groups", PARTITIONS)
        .await
        .unwrap();
    let (from, to) = day();
    let producer = producer(&topics);
    for p in 0..PARTITIONS {
        let company = company_on(p);
        for minutes in [60, 120] {
            let t = at(from, minutes);
            publish_at(&producer, &topics, &usage(company, t), t).await;
        }
    }
    let usage_topic = topics.topic("usage");

    // A service's group (like the projector's) that has committed offset 1 everywhere.
    let service_group = topics.group("projector");
    let service: BaseConsumer = topics
        .options
        .consumer_config(&service_group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(&usage_topic, p, Offset::Offset(1))
            .unwrap();
    }
    service.commit(&tpl, CommitMode::Sync).unwrap();
    drop(service);
    let service_before = committed(&topics, &service_group, &usage_topic);
    assert_eq!(service_before, vec![Offset::Offset(1); PARTITIONS as usize]);

    let admin: BaseConsumer = topics.options.client_config().create().unwrap();
    let before = group_names(&admin);

    let (summary, text) = run(options(&topics, &["usage"], from, to)).await;
    assert_eq!(parse_lines(&text).len(), 2 * PARTITIONS as usize);

    let after = group_names(&admin);
    let new_replay_groups: Vec<&String> = after
        .iter()
        .filter(|g| g.starts_with("trestle-replay") && !before.contains(g))
        .collect();
    assert!(new_replay_groups.is_empty(), "{new_replay_groups:?}");
    assert!(
        !after.contains(&summary.consumer_group),
        "the replay's throwaway group.id {} never became a group on the broker",
        summary.consumer_group
    );
    assert_eq!(
        committed(&topics, &summary.consumer_group, &usage_topic),
        vec![Offset::Invalid; PARTITIONS as usize],
        "nothing was committed under the replay's group.id"
    );
    assert_eq!(
        committed(&topics, &service_group, &usage_topic),
        service_before,
        "the service's committed offsets are untouched"
    );
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sees_only_committed_transactional_records() {
    let topics = TestTopics::create("replay_txn", PARTITIONS).await.unwrap();
    let (from, to) = around_now();
    let now = from + chrono::TimeDelta::hours(1);
    let company = company_on(0);
    let committed_event = usage(company, at(now, 0));
    let aborted_event = usage(company, at(now, 0));

    // One transaction committed, then one aborted: the partition ends in aborted records and
    // the abort marker, which a read_committed reader never sees.
    let kafka = topics.options.clone();
    let (c, a) = (committed_event.clone(), aborted_event.clone());
    tokio::task::spawn_blocking(move || {
        let producer = TxnProducer::new(&kafka, "a");
        producer.send(&kafka, &c);
        producer.commit();
        producer.send(&kafka, &a);
        producer.abort();
    })
    .await
    .unwrap();

    let (summary, text) = run(options(&topics, &["usage"], from, to)).await;
    let lines = parse_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0].event, committed_event);
    assert_eq!(
        summary.records_read, 1,
        "the aborted record is never delivered"
    );
    topics.delete().await;
}
