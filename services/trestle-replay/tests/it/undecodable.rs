//! Records that cannot be decoded are counted, listed and (when asked) written, never dropped
//! silently.

use base64::Engine as _;
use trestle_testkit::TestTopics;

use crate::{
    at, company_on, day, options, parse_lines, producer, publish_at, run, send_raw, usage,
    PARTITIONS,
};

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_records_are_reported_not_dropped() {
    let topics = TestTopics::create("replay_bad", PARTITIONS).await.unwrap();
    let (from, to) = day();
    let company = company_on(2);
    let key = trestle_kafka::company_key(&company);
    let producer = producer(&topics);
    let usage_topic = topics.topic("usage");

    let good = usage(company, at(from, 60));
    let truncated = {
        let mut bytes = trestle_events::encode(&usage(company, at(from, 61))).unwrap();
        bytes.truncate(bytes.len() - 3);
        bytes
    };
    let garbage = b"{\"not\":\"avro\"}".to_vec();
    publish_at(&producer, &topics, &good, at(from, 60)).await;
    let bad = [
        send_raw(
            &producer,
            &usage_topic,
            &key,
            Some(&truncated),
            at(from, 61),
        )
        .await,
        send_raw(&producer, &usage_topic, &key, Some(&garbage), at(from, 62)).await,
        send_raw(&producer, &usage_topic, &key, None, at(from, 63)).await,
    ];
    let good_late = usage(company, at(from, 64));
    publish_at(&producer, &topics, &good_late, at(from, 64)).await;

    // Reported, not written.
    let mut o = options(&topics, &["usage"], from, to);
    o.company = Some(company);
    let (summary, text) = run(o.clone()).await;
    let lines = parse_lines(&text);
    assert_eq!(
        lines.iter().map(|l| l.event.clone()).collect::<Vec<_>>(),
        vec![good.clone(), good_late.clone()],
        "the partition keeps moving past bad records"
    );
    assert_eq!(summary.undecodable, 3);
    let listed: Vec<(String, i32, i64)> = summary
        .undecodable_records
        .iter()
        .map(|u| (u.topic.clone(), u.partition, u.offset))
        .collect();
    let expected: Vec<(String, i32, i64)> = bad
        .iter()
        .map(|l| (usage_topic.clone(), l.partition, l.offset))
        .collect();
    assert_eq!(listed, expected);
    assert!(summary.undecodable_records[1]
        .error
        .contains("not Avro single-object"));
    assert!(summary.undecodable_records[2].error.contains("no value"));
    assert!(summary.to_string().contains(&format!(
        "{usage_topic} partition {} offset {}",
        bad[0].partition, bad[0].offset
    )));

    // Written as lines with the value in base64 when asked.
    o.include_undecodable = true;
    let (summary, text) = run(o).await;
    assert_eq!(summary.undecodable, 3);
    let values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values.len(), 5, "{text}");
    let undecodable: Vec<&serde_json::Value> = values
        .iter()
        .filter(|v| v.get("undecodable").is_some())
        .collect();
    assert_eq!(undecodable.len(), 3);
    let b64 = |v: &serde_json::Value| {
        v["undecodable"]["value_base64"]
            .as_str()
            .map(|s| base64::engine::general_purpose::STANDARD.decode(s).unwrap())
    };
    assert_eq!(b64(undecodable[0]), Some(truncated));
    assert_eq!(b64(undecodable[1]), Some(garbage));
    assert_eq!(b64(undecodable[2]), None, "a tombstone has no value");
    for (v, landed) in undecodable.iter().zip(&bad) {
        assert_eq!(v["offset"], landed.offset);
        assert_eq!(v["undecodable"]["key"], key.as_str());
    }
    topics.delete().await;
}
