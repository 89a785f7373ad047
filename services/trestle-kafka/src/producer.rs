//! Publishing events: Avro single-object values, company_id keys, acknowledged by all replicas.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use trestle_events::Event;

use crate::{Error, KafkaOptions};

/// How many events [`EventProducer::publish_all`] keeps in flight at once.
pub const PUBLISH_WINDOW: usize = 5_000;

/// Where the broker stored a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// An idempotent producer of Trestle events; cheap to clone.
#[derive(Clone)]
pub struct EventProducer {
    inner: FutureProducer,
    options: KafkaOptions,
}

impl EventProducer {
    /// Creates the producer (no broker round trip yet).
    pub fn new(options: &KafkaOptions) -> Result<Self, Error> {
        let inner = options
            .producer_config()
            .create()
            .map_err(|source| Error::Client {
                role: "producer",
                bootstrap: options.bootstrap_servers.clone(),
                source,
            })?;
        Ok(EventProducer {
            inner,
            options: options.clone(),
        })
    }

    /// Publishes one event to its topic, keyed by its company, and waits for the broker's ack.
    pub async fn publish(&self, event: &Event) -> Result<Delivered, Error> {
        let topic = self.options.topic(event.topic().name());
        let payload = trestle_events::encode(event).map_err(|source| Error::Encode {
            event: event.name(),
            topic: topic.clone(),
            source: Box::new(source),
        })?;
        let key = event.key();
        let record = FutureRecord::to(&topic).key(&key).payload(&payload);
        match self.inner.send(record, Duration::from_secs(30)).await {
            Ok(delivery) => Ok(Delivered {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((source, _)) => Err(Error::Delivery { topic, source }),
        }
    }

    /// Publishes many events, up to [`PUBLISH_WINDOW`] in flight at once, and waits for every
    /// ack; returns where each landed, in order. One company's events keep the given order
    /// (they are enqueued in order on an idempotent producer). Stops at the first refusal,
    /// naming the event; events before it in the slice may have been stored.
    pub async fn publish_all(&self, events: &[Event]) -> Result<Vec<Delivered>, Error> {
        let mut delivered = Vec::with_capacity(events.len());
        for chunk in events.chunks(PUBLISH_WINDOW) {
            let acks = futures::future::join_all(chunk.iter().map(|e| self.publish(e))).await;
            for ack in acks {
                delivered.push(ack?);
            }
        }
        Ok(delivered)
    }

    /// The underlying client, for raw sends (dead letters, benchmarks).
    pub fn client(&self) -> &FutureProducer {
        &self.inner
    }

    /// The options this producer was built from.
    pub fn options(&self) -> &KafkaOptions {
        &self.options
    }
}
