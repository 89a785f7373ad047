//! Owned records: a consumed record copied out of librdkafka, so it can wait in a queue or
//! cross a task while the consumer moves on (and can be closed).

use rdkafka::message::{Headers, Message};

/// A consumed record, detached from the consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedRecord {
    /// Physical topic name (with the configured prefix).
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Record timestamp (producer CreateTime or broker LogAppendTime), ms since the epoch.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    /// Headers in order, values as text (Trestle's headers, e.g. the dead-letter origin, are
    /// all text; other bytes are replaced lossily). Empty on most records, and then free.
    pub headers: Vec<(String, String)>,
}

impl OwnedRecord {
    /// Copies everything out of a consumed message.
    pub fn from_message(message: &impl Message) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        OwnedRecord {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
        }
    }

    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
