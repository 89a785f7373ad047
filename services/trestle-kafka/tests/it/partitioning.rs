//! Invariant 1: a company lands on the partition Kafka's Java client would pick.

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use trestle_events::{Event, Meta, UsageRecorded};
use trestle_kafka::{company_key, murmur2, partition_for_key, EventProducer};

const JAVA: &str = include_str!("fixtures/java_partitions.csv");
const COUNTS: [i32; 5] = [1, 3, 12, 64, 100];

fn java_rows() -> Vec<(String, i32, Vec<i32>)> {
    JAVA.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split(',').collect();
            let parts = cols[2..].iter().map(|c| c.parse().unwrap()).collect();
            (cols[0].to_string(), cols[1].parse().unwrap(), parts)
        })
        .collect()
}

#[test]
fn murmur2_and_partitions_match_the_java_client() {
    let rows = java_rows();
    assert!(rows.len() > 200, "fixture has every key");
    for (key, hash, partitions) in rows {
        assert_eq!(murmur2(key.as_bytes()), hash, "murmur2 of {key:?}");
        for (n, expected) in COUNTS.iter().zip(partitions) {
            assert_eq!(
                partition_for_key(key.as_bytes(), *n),
                expected,
                "{key:?} over {n} partitions"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_puts_each_company_on_the_java_clients_partition() {
    let topics = trestle_testkit::TestTopics::create("java_partitions", 12)
        .await
        .unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let uuid_rows: Vec<_> = java_rows()
        .into_iter()
        .filter_map(|(k, _, p)| k.parse::<uuid::Uuid>().ok().map(|u| (u, p[2])))
        .take(40)
        .collect();
    for (company, expected) in &uuid_rows {
        let request_id = uuid::Uuid::now_v7();
        let event = Event::UsageRecorded(UsageRecorded {
            meta: Meta::root(*company),
            request_id,
            meter: trestle_events::Meter::GeminiFlashQueries,
            quantity_milli: 1000,
            cost_micro_usd: 100,
            price_book_version: 1,
            idempotency_key: UsageRecorded::idempotency_key_for(
                request_id,
                trestle_events::Meter::GeminiFlashQueries,
            ),
        });
        let delivered = producer.publish(&event).await.unwrap();
        assert_eq!(
            delivered.partition, *expected,
            "company {company} (12 partitions)"
        );
    }

    // And a consumer sees the key as the canonical UUID string.
    let consumer: StreamConsumer = topics
        .options
        .consumer_config(&topics.group("check"))
        .create()
        .unwrap();
    consumer.subscribe(&[&topics.topic("usage")]).unwrap();
    let key = {
        let m = tokio::time::timeout(std::time::Duration::from_secs(30), consumer.recv())
            .await
            .expect("a record within 30 s")
            .unwrap();
        // Borrowed messages must be gone before the consumer closes.
        String::from_utf8(m.key().unwrap().to_vec()).unwrap()
    };
    let company: uuid::Uuid = key.parse().unwrap();
    assert_eq!(key, company_key(&company));
    trestle_kafka::consumer::close(consumer).await;
    topics.delete().await;
}
