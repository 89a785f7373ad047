//! A record that cannot be decoded goes to the dead-letter topic with its origin; the
//! partition keeps moving and nothing valid is lost.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureRecord;
use trestle_events::Meter;
use trestle_kafka::{company_key, EventProducer};
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_usage_goes_to_dead_letter_and_later_records_still_count() {
    let topics = TestTopics::create("projector_dlq", 1).await.unwrap();
    let db = TestDb::shard("projector_dlq").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let company = Uuid::now_v7();
    let usage_topic = topics.topic("usage");

    publish_all(
        &producer,
        &[usage(
            company,
            Uuid::now_v7(),
            Meter::GeminiFlashQueries,
            1000,
            100,
        )],
    )
    .await;
    let key = company_key(&company);
    let garbage = b"{\"not\": \"avro\"}".to_vec();
    let (bad_partition, bad_offset) = producer
        .client()
        .send(
            FutureRecord::to(&usage_topic).key(&key).payload(&garbage),
            Duration::from_secs(10),
        )
        .await
        .map(|d| (d.partition, d.offset))
        .unwrap();
    publish_all(
        &producer,
        &[usage(
            company,
            Uuid::now_v7(),
            Meter::GeminiFlashQueries,
            1000,
            100,
        )],
    )
    .await;

    let (stop, handle) = spawn(config(&topics, &db));
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, Duration::from_secs(60)).await;
    assert_eq!(monthly_totals(&pool, company).await, (2, 200));

    let consumer: StreamConsumer = topics
        .options
        .consumer_config(&topics.group("dlq-reader"))
        .create()
        .unwrap();
    consumer.subscribe(&[&topics.topic("dead-letter")]).unwrap();
    let (payload, headers) = {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a dead letter within 30 s")
            .unwrap();
        let headers: Vec<(String, String)> = m
            .headers()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h.key.to_string(),
                    String::from_utf8_lossy(h.value.unwrap()).to_string(),
                )
            })
            .collect();
        (m.payload().unwrap().to_vec(), headers)
    };
    assert_eq!(payload, garbage, "the record is kept byte for byte");
    let header = |k: &str| {
        headers
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("trestle.dlq.topic"), usage_topic);
    assert_eq!(header("trestle.dlq.partition"), bad_partition.to_string());
    assert_eq!(header("trestle.dlq.offset"), bad_offset.to_string());
    assert!(
        header("trestle.dlq.error").contains("single-object"),
        "{}",
        header("trestle.dlq.error")
    );

    trestle_kafka::consumer::close(consumer).await;
    drop(stop);
    handle.await.unwrap();
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}
