//! Dead-letter records: a record no consumer could decode or validate, kept byte for byte with
//! its origin in headers, so nothing is lost silently and the partition keeps moving.

use rdkafka::message::{Header, OwnedHeaders};

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
