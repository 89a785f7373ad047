//! trestle-replay against the real local Kafka: each test owns a topic prefix (testkit),
//! publishes events with chosen record timestamps and `occurred_at`, and replays them.

mod errors;
mod export;
mod isolation;
mod termination;
mod undecodable;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rdkafka::producer::{
    BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, Producer, ThreadedProducer,
};
use trestle_events::{AiRequestCompleted, Event, Meta, Meter};
use trestle_replay::{Progress, ReplayOptions, Summary, Topics};
use trestle_testkit::{fixtures, TestTopics};
use uuid::Uuid;

/// Partitions of each test topic: several, so a company's partition is a real choice.
const PARTITIONS: i32 = 4;

/// The day replayed: three days ago (UTC midnight to midnight). In the past because brokers
/// refuse record timestamps more than an hour ahead of their clock.
fn day() -> (DateTime<Utc>, DateTime<Utc>) {
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let from = today - TimeDelta::days(3);
    (from, from + TimeDelta::days(1))
}

/// A range around now, for tests with transactions: brokers stamp transaction markers with
/// their own clock, so markers of a replayed range must fall in it as they do in production.
fn around_now() -> (DateTime<Utc>, DateTime<Utc>) {
    let now = trestle_events::now_micros();
    (now - TimeDelta::hours(1), now + TimeDelta::hours(1))
}

fn at(base: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    base + TimeDelta::minutes(minutes)
}

fn meta(company: Uuid, occurred_at: DateTime<Utc>) -> Meta {
    let mut meta = Meta::root(company);
    meta.occurred_at = occurred_at;
    meta
}

fn usage(company: Uuid, occurred_at: DateTime<Utc>) -> Event {
    let meter = Meter::GeminiFlashQueries;
    fixtures::at(
        fixtures::usage(company, Uuid::now_v7(), meter, 1000, 420),
        occurred_at,
    )
}

fn completed(company: Uuid, occurred_at: DateTime<Utc>) -> Event {
    Event::AiRequestCompleted(AiRequestCompleted {
        meta: meta(company, occurred_at),
        request_id: Uuid::now_v7(),
        provider: "gemini".into(),
        model: "gemini-flash".into(),
        cloud_project_id: None,
        latency_ms: 812,
        degraded: false,
        answer: "Three RFIs are open, \"RFI-12\" is overdue.".into(),
        input_tokens: 120,
        output_tokens: 40,
        cost_micro_usd: 300,
        answer_path: trestle_events::AnswerPath::Chat,
        cited_document_ids: vec![],
    })
}

/// Where a published record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Landed {
    partition: i32,
    offset: i64,
}

/// Publishes raw bytes keyed `key` to a physical topic with record timestamp `timestamp`.
async fn send_raw(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: Option<&[u8]>,
    timestamp: DateTime<Utc>,
) -> Landed {
    let mut record = FutureRecord::<str, [u8]>::to(topic)
        .key(key)
        .timestamp(timestamp.timestamp_millis());
    if let Some(p) = payload {
        record = record.payload(p);
    }
    let delivery = producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .expect("the broker acknowledges the record");
    Landed {
        partition: delivery.partition,
        offset: delivery.offset,
    }
}

/// Publishes `event` to its topic, keyed by its company, with record timestamp `timestamp`
/// (a producer's CreateTime; usually the event's `occurred_at`).
async fn publish_at(
    producer: &FutureProducer,
    topics: &TestTopics,
    event: &Event,
    timestamp: DateTime<Utc>,
) -> Landed {
    let payload = trestle_events::encode(event).unwrap();
    let key = trestle_kafka::company_key(&event.meta().company_id);
    send_raw(
        producer,
        &topics.topic(event.topic().name()),
        &key,
        Some(&payload),
        timestamp,
    )
    .await
}

fn producer(topics: &TestTopics) -> FutureProducer {
    topics.options.producer_config().create().unwrap()
}

/// Replay options for `topics` over `[from, to)`, quiet.
fn options(
    topics: &TestTopics,
    names: &[&str],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ReplayOptions {
    let mut o = ReplayOptions::new(
        topics.options.clone(),
        Topics::Named(names.iter().map(|s| s.to_string()).collect()),
        from,
        to,
    );
    o.progress = Progress::Off;
    o
}

/// Runs a replay into memory, failing the test if it takes over a minute.
async fn run(options: ReplayOptions) -> (Summary, String) {
    let mut out = Vec::new();
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        trestle_replay::replay(options, &mut out),
    )
    .await
    .expect("the replay terminates")
    .expect("the replay succeeds");
    (
        summary,
        String::from_utf8(out).expect("the output is UTF-8"),
    )
}

/// One JSON Lines line, parsed.
#[derive(Debug, serde::Deserialize)]
struct Line {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: Option<String>,
    event: Event,
}

fn parse_lines(text: &str) -> Vec<Line> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

/// A company whose key lands on `partition` of a `PARTITIONS`-partition topic.
fn company_on(partition: i32) -> Uuid {
    loop {
        let c = Uuid::now_v7();
        let key = trestle_kafka::company_key(&c);
        if trestle_kafka::partition_for_key(key.as_bytes(), PARTITIONS) == partition {
            return c;
        }
    }
}

fn partition_of(company: Uuid) -> i32 {
    trestle_kafka::partition_for_key(trestle_kafka::company_key(&company).as_bytes(), PARTITIONS)
}

/// Event ids per (topic, partition) in output order, checking that the output is in offset
/// order within each partition.
fn ids_by_partition(lines: &[Line]) -> BTreeMap<(String, i32), Vec<Uuid>> {
    let mut map: BTreeMap<(String, i32), Vec<(i64, Uuid)>> = BTreeMap::new();
    for l in lines {
        map.entry((l.topic.clone(), l.partition))
            .or_default()
            .push((l.offset, l.event.meta().event_id));
    }
    map.into_iter()
        .map(|(k, v)| {
            assert!(
                v.windows(2).all(|w| w[0].0 < w[1].0),
                "{k:?} is written in offset order: {v:?}"
            );
            (k, v.into_iter().map(|(_, id)| id).collect())
        })
        .collect()
}

/// A transactional producer of events, one transaction at a time (blocking calls).
struct TxnProducer(ThreadedProducer<DefaultProducerContext>);

impl TxnProducer {
    const TIMEOUT: Duration = Duration::from_secs(30);

    fn new(kafka: &trestle_kafka::KafkaOptions, name: &str) -> Self {
        let id = format!("{}txn-{name}", kafka.topic_prefix);
        let producer: ThreadedProducer<DefaultProducerContext> =
            kafka.transactional_producer_config(&id).create().unwrap();
        producer.init_transactions(Self::TIMEOUT).unwrap();
        TxnProducer(producer)
    }

    /// Begins a transaction and sends `event` in it, with its `occurred_at` as timestamp.
    fn send(&self, kafka: &trestle_kafka::KafkaOptions, event: &Event) {
        self.0.begin_transaction().unwrap();
        let payload = trestle_events::encode(event).unwrap();
        let key = trestle_kafka::company_key(&event.meta().company_id);
        let topic = kafka.topic(event.topic().name());
        self.0
            .send(
                BaseRecord::to(&topic)
                    .key(&key)
                    .payload(&payload)
                    .timestamp(event.meta().occurred_at.timestamp_millis()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        self.0.flush(Self::TIMEOUT).unwrap();
    }

    fn commit(&self) {
        self.0.commit_transaction(Self::TIMEOUT).unwrap();
    }

    fn abort(&self) {
        self.0.abort_transaction(Self::TIMEOUT).unwrap();
    }
}
