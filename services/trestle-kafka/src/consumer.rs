//! Group consumers: subscribing, detaching what they deliver, and closing them without
//! hanging.
//!
//! Dropping a subscribed cooperative-sticky consumer can block forever in librdkafka's close,
//! which waits for a revoke that only a poll would serve (librdkafka #4527). So: unsubscribe,
//! keep polling until the assignment is gone, and only then drop — off the async threads.

use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;

use crate::{Error, OwnedRecord};

/// Leaves the group cleanly (revoking partitions) and drops the consumer.
pub async fn close<C>(consumer: StreamConsumer<C>)
where
    C: ConsumerContext + 'static,
{
    consumer.unsubscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let empty = consumer
            .assignment()
            .map(|a| a.count() == 0)
            .unwrap_or(true);
        if empty {
            break;
        }
        // Polling serves the revoke; any record that arrives now is simply not processed.
        let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
    }
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
}

/// A group consumer with `context`, subscribed to `topics`.
pub fn subscribe<C>(
    config: &rdkafka::ClientConfig,
    context: C,
    topics: &[&str],
) -> Result<StreamConsumer<C>, Error>
where
    C: ConsumerContext + 'static,
{
    let consumer: StreamConsumer<C> =
        config
            .create_with_context(context)
            .map_err(|source| Error::Setup {
                what: "consumer",
                source,
            })?;
    consumer
        .subscribe(topics)
        .map_err(|source| Error::Consume {
            topic: topics.join(","),
            source,
        })?;
    Ok(consumer)
}

/// What `recv()` returned, copied out of librdkafka; a consumer error names `topics`.
pub fn received(
    message: Result<BorrowedMessage<'_>, KafkaError>,
    topics: &str,
) -> Result<OwnedRecord, Error> {
    match message {
        Ok(message) => Ok(OwnedRecord::from_message(&message)),
        Err(source) => Err(Error::Consume {
            topic: topics.to_owned(),
            source,
        }),
    }
}
