//! Seeds a throwaway copy of the topics with synthetic events, for measuring replay throughput.
//!
//! ```sh
//! cargo run --release -p trestle-replay --example seed -- 100000   # prints the topic prefix
//! TRESTLE_KAFKA__TOPIC_PREFIX=<prefix> target/release/trestle-replay --topic usage --from ... -o /dev/null
//! cargo run --release -p trestle-replay --example seed -- --delete <prefix>
//! ```
//!
//! The events are `UsageRecorded` of 1,000 companies spread over yesterday (UTC), each
//! produced with its `occurred_at` as record timestamp, on the local stack's Kafka.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use futures::future::try_join_all;
use rdkafka::producer::{FutureProducer, FutureRecord};
use trestle_events::{Event, Meta, Meter, UsageRecorded};
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = KafkaOptions {
        bootstrap_servers: trestle_testkit::kafka_bootstrap(),
        ..KafkaOptions::default()
    };
    let specs = trestle_kafka::topics::builtin();
    if args.first().map(String::as_str) == Some("--delete") {
        let prefix = args
            .get(1)
            .ok_or_else(|| anyhow::anyhow!("--delete PREFIX"))?;
        let options = KafkaOptions {
            topic_prefix: prefix.clone(),
            ..base
        };
        trestle_kafka::topics::delete(&options, &specs).await?;
        println!("deleted the topics under {prefix}");
        return Ok(());
    }
    let count: usize = args
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let options = KafkaOptions {
        topic_prefix: format!("t.{}.", trestle_testkit::unique("replay_seed")),
        ..base
    };
    trestle_kafka::topics::apply(&options, &specs).await?;
    let producer: FutureProducer = options.producer_config().create()?;
    let topic = options.topic("usage");
    let day = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        - TimeDelta::days(1);
    let companies: Vec<Uuid> = (0..1000).map(|_| Uuid::now_v7()).collect();
    let started = Instant::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(5_000) {
        let records: Vec<(String, Vec<u8>, i64)> = chunk
            .iter()
            .map(|&i| {
                let company = companies[i % companies.len()];
                let occurred =
                    day + TimeDelta::milliseconds((i as i64 * 86_400_000) / count as i64);
                let mut meta = Meta::root(company);
                meta.occurred_at = occurred;
                let request_id = Uuid::now_v7();
                let event = Event::UsageRecorded(UsageRecorded {
                    meta,
                    request_id,
                    meter: Meter::GeminiFlashQueries,
                    quantity_milli: 1000,
                    cost_micro_usd: 420,
                    price_book_version: 1,
                    idempotency_key: UsageRecorded::idempotency_key_for(
                        request_id,
                        Meter::GeminiFlashQueries,
                    ),
                });
                let key = trestle_kafka::company_key(&company);
                (
                    key,
                    trestle_events::encode(&event).unwrap(),
                    occurred.timestamp_millis(),
                )
            })
            .collect();
        try_join_all(records.iter().map(|(key, payload, ts)| {
            producer.send(
                FutureRecord::to(&topic)
                    .key(key)
                    .payload(payload)
                    .timestamp(*ts),
                Duration::from_secs(30),
            )
        }))
        .await
        .map_err(|(e, _)| e)?;
    }
    eprintln!(
        "seeded {count} events into {topic} in {:.1} s; events occurred on {}",
        started.elapsed().as_secs_f64(),
        day.date_naive()
    );
    println!("{}", options.topic_prefix);
    Ok(())
}
