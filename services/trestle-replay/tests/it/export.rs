//! Exports: one company's day as JSON Lines, only its partition read, and CSV rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use trestle_events::Event;
use trestle_replay::{Format, CSV_COLUMNS};
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::{
    at, company_on, completed, day, ids_by_partition, options, parse_lines, partition_of, producer,
    publish_at, run, usage, PARTITIONS,
};

/// A day of usage and outcomes for `company`: `(event, record timestamp, occurred in range)`.
fn day_of(
    company: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(Event, DateTime<Utc>, bool)> {
    let mut out = Vec::new();
    for make in [usage, completed] {
        for minutes in [10, 8 * 60, 24 * 60 - 1] {
            let t = at(from, minutes);
            out.push((make(company, t), t, true));
        }
        // Before the day: far enough to be skipped by offset, and just before `from`, read
        // (within the slack) but left out by occurred_at.
        out.push((make(company, at(from, -60)), at(from, -60), false));
        out.push((make(company, at(from, -5)), at(from, -5), false));
        // `to` is exclusive; and the day after.
        out.push((make(company, to), to, false));
        out.push((make(company, at(to, 90)), at(to, 90), false));
        // Occurred in the day but reached Kafka ten minutes after it (within the slack).
        out.push((make(company, at(to, -2)), at(to, 10), true));
    }
    out
}

type Expected = BTreeMap<(String, i32), Vec<Uuid>>;

/// Publishes every company's day in record-timestamp order, as producers would; returns the
/// event ids `wanted` should export, per (topic, partition) in offset order.
async fn publish_days(
    topics: &TestTopics,
    companies: &[Uuid],
    wanted: impl Fn(&Event) -> bool,
) -> Expected {
    let (from, to) = day();
    let mut all: Vec<(Event, DateTime<Utc>, bool)> = companies
        .iter()
        .flat_map(|c| day_of(*c, from, to))
        .collect();
    all.sort_by_key(|(_, ts, _)| *ts);
    let producer = producer(topics);
    let mut expected: BTreeMap<(String, i32), Vec<(i64, Uuid)>> = BTreeMap::new();
    for (event, ts, in_range) in &all {
        let landed = publish_at(&producer, topics, event, *ts).await;
        if *in_range && wanted(event) {
            expected
                .entry((topics.topic(event.topic().name()), landed.partition))
                .or_default()
                .push((landed.offset, event.meta().event_id));
        }
    }
    expected
        .into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v.into_iter().map(|(_, id)| id).collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_one_companys_day_as_json_lines() {
    let topics = TestTopics::create("replay_jsonl", PARTITIONS)
        .await
        .unwrap();
    let target = company_on(1);
    // A neighbour shares the target's partition; the others are elsewhere.
    let companies = [
        target,
        company_on(1),
        company_on(0),
        company_on(2),
        company_on(3),
    ];
    let expected = publish_days(&topics, &companies, |e| e.meta().company_id == target).await;

    let (from, to) = day();
    let mut o = options(&topics, &["usage", "ai-outcomes"], from, to);
    o.company = Some(target);
    let (summary, text) = run(o).await;
    let lines = parse_lines(&text);

    assert_eq!(ids_by_partition(&lines), expected);
    for line in &lines {
        let meta = line.event.meta();
        assert_eq!(meta.company_id, target);
        assert!(
            meta.occurred_at >= from && meta.occurred_at < to,
            "{line:?}"
        );
        assert!(
            line.timestamp.is_some(),
            "every line has its record timestamp"
        );
    }
    assert_eq!(summary.events_written, 8);
    assert_eq!(
        summary.events_by_type,
        BTreeMap::from([
            ("AiRequestCompleted".to_string(), 4),
            ("UsageRecorded".to_string(), 4)
        ])
    );
    assert!(
        summary.other_companies > 0,
        "the neighbour's records were read and left out"
    );
    assert!(
        summary.outside_range > 0,
        "events just outside the day were read and left out"
    );
    assert_eq!(summary.undecodable, 0);
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_only_the_companys_partition() {
    let topics = TestTopics::create("replay_partition", PARTITIONS)
        .await
        .unwrap();
    let target = company_on(2);
    // One company per partition, the target alone on its own.
    let companies: Vec<Uuid> = (0..PARTITIONS)
        .map(|p| if p == 2 { target } else { company_on(p) })
        .collect();
    publish_days(&topics, &companies, |_| true).await;

    let (from, to) = day();
    let mut o = options(&topics, &["usage", "ai-outcomes"], from, to);
    o.company = Some(target);
    let (summary, _) = run(o).await;

    let read: Vec<(String, i32)> = summary
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    assert_eq!(
        read,
        vec![
            (topics.topic("usage"), partition_of(target)),
            (topics.topic("ai-outcomes"), partition_of(target)),
        ]
    );
    // Every partition has records, yet only the target's partition was read.
    for name in ["usage", "ai-outcomes"] {
        let ends = trestle_testkit::end_offsets(&topics.options, &topics.topic(name)).unwrap();
        assert!(ends.iter().all(|(_, end)| *end > 0), "{ends:?}");
    }
    let read_records: u64 = summary.partitions.iter().map(|p| p.records_read).sum();
    assert_eq!(summary.records_read, read_records);
    assert_eq!(
        summary.other_companies, 0,
        "nobody else is on the target's partition"
    );
    assert_eq!(summary.events_written, 8);
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_has_one_row_per_event_with_the_envelope_columns() {
    let topics = TestTopics::create("replay_csv", PARTITIONS).await.unwrap();
    let companies = [company_on(0), company_on(3)];
    let expected = publish_days(&topics, &companies, |_| true).await;
    let wanted: usize = expected.values().map(Vec::len).sum();

    let (from, to) = day();
    let mut o = options(&topics, &["usage", "ai-outcomes"], from, to);
    o.format = Format::Csv;
    let (summary, text) = run(o).await;

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), wanted, "one row per event in range");
    assert_eq!(summary.events_written as usize, wanted);

    let mut by_partition: BTreeMap<(String, i32), Vec<Uuid>> = BTreeMap::new();
    for row in &rows {
        let col = |name: &str| &row[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
        let event_id: Uuid = col("event_id").parse().unwrap();
        by_partition
            .entry((col("topic").to_owned(), col("partition").parse().unwrap()))
            .or_default()
            .push(event_id);
        let company: Uuid = col("company_id").parse().unwrap();
        assert!(companies.contains(&company));
        let occurred: DateTime<Utc> = col("occurred_at").parse().unwrap();
        assert!(occurred >= from && occurred < to);
        // Root events: correlation and causation are the event itself.
        assert_eq!(col("correlation_id").parse::<Uuid>().unwrap(), event_id);
        assert_eq!(col("causation_id").parse::<Uuid>().unwrap(), event_id);
        let payload: serde_json::Value = serde_json::from_str(col("payload_json")).unwrap();
        let payload = payload.as_object().unwrap();
        assert!(!payload.contains_key("event_id") && !payload.contains_key("type"));
        match col("event_type") {
            "UsageRecorded" => assert_eq!(payload["meter"], "gemini_flash_queries"),
            "AiRequestCompleted" => assert_eq!(
                payload["answer"], "Three RFIs are open, \"RFI-12\" is overdue.",
                "quotes and commas survive CSV quoting"
            ),
            other => panic!("unexpected event type {other}"),
        }
    }
    assert_eq!(
        by_partition, expected,
        "rows are in offset order per partition"
    );
    topics.delete().await;
}
