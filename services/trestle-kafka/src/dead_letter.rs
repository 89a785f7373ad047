//! Dead-letter records: a record no consumer could decode or validate, kept byte for byte with
//! its origin in headers, so nothing is lost silently and the partition keeps moving.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::{Error, KafkaOptions, OwnedRecord};

/// Header names on every dead-letter record. NEVER CHANGE: operators' tools read them.
pub const DLQ_HEADERS: [&str; 5] = [
    "trestle.dlq.topic",
    "trestle.dlq.partition",
    "trestle.dlq.offset",
    "trestle.dlq.error",
    "trestle.dlq.consumer",
];

/// Where a dead-lettered record came from and why it was rejected.
#[derive(Debug, Clone)]
pub struct DeadLetterOrigin {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub error: String,
    /// The consumer group (or service) that rejected it.
    pub consumer: String,
}

/// The headers that carry a dead-lettered record's origin.
pub fn dead_letter_headers(origin: &DeadLetterOrigin) -> OwnedHeaders {
    let partition = origin.partition.to_string();
    let offset = origin.offset.to_string();
    let values: [&str; 5] = [
        &origin.topic,
        &partition,
        &offset,
        &origin.error,
        &origin.consumer,
    ];
    DLQ_HEADERS
        .iter()
        .zip(values)
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value),
            })
        })
}

/// Sends the records a consumer rejects to the dead-letter topic: key and value byte for byte,
/// the origin ([`DLQ_HEADERS`]) in headers, and a `dead_letters_total` count under `stage`.
#[derive(Debug, Clone)]
pub struct DeadLetterer {
    topic: String,
    consumer: String,
    stage: &'static str,
}

impl DeadLetterer {
    /// Dead-letters to the `dead-letter` topic of `options`, on behalf of `consumer` (its group
    /// id, written into every record), counted under `stage` (the service).
    pub fn new(options: &KafkaOptions, consumer: &str, stage: &'static str) -> Self {
        DeadLetterer::to_topic(&options.topic("dead-letter"), consumer, stage)
    }

    /// Like [`DeadLetterer::new`], to an already resolved physical topic.
    pub fn to_topic(topic: &str, consumer: &str, stage: &'static str) -> Self {
        DeadLetterer {
            topic: topic.to_owned(),
            consumer: consumer.to_owned(),
            stage,
        }
    }

    /// The physical dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Hands the dead letter of `record` to `producer` without waiting for the broker: inside
    /// a transaction, whose commit waits for it.
    pub fn enqueue(
        &self,
        producer: &FutureProducer,
        record: &OwnedRecord,
        reason: &str,
    ) -> Result<DeliveryFuture, Error> {
        producer
            .send_result(self.record(record, reason))
            .map_err(|(source, _)| self.failed(record, source))
    }

    /// Sends the dead letter of `record` and waits for the broker's acknowledgement.
    pub async fn send(
        &self,
        producer: &FutureProducer,
        record: &OwnedRecord,
        reason: &str,
    ) -> Result<(), Error> {
        let dead = self.record(record, reason);
        match producer.send(dead, Duration::from_secs(30)).await {
            Ok(_) => Ok(()),
            Err((source, _)) => Err(self.failed(record, source)),
        }
    }

    /// The dead-letter record of `record`, rejected for `reason`; counts it.
    fn record<'a>(&'a self, record: &'a OwnedRecord, reason: &str) -> FutureRecord<'a, [u8], [u8]> {
        trestle_telemetry::dead_lettered(
            self.stage,
            &record.topic,
            record.partition,
            record.offset,
            reason,
        );
        let headers = dead_letter_headers(&DeadLetterOrigin {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            error: reason.to_owned(),
            consumer: self.consumer.clone(),
        });
        let mut dead = FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = record.key.as_deref() {
            dead = dead.key(key);
        }
        if let Some(payload) = record.payload.as_deref() {
            dead = dead.payload(payload);
        }
        dead
    }

    fn failed(&self, record: &OwnedRecord, source: rdkafka::error::KafkaError) -> Error {
        Error::DeadLetter {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            source,
        }
    }
}
