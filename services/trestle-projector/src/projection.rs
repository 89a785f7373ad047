//! What a projection is to the projector loop: the topics it reads, which records it takes,
//! and how it folds a batch of them into its tables inside the loop's transaction.
//!
//! The loop (`worker.rs`) owns everything exactly-once: batching, the offsets in
//! `projector_offsets` locked and advanced in the same transaction, seeking on assignment,
//! dead letters. A projection only says what its rows are.

use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::Event;
use trestle_kafka::OwnedRecord;

/// A consumed record (trestle-kafka's [`OwnedRecord`], whose fields it derefs to) and the
/// logical topic it came from.
#[derive(Debug, Clone)]
pub struct Record {
    pub record: OwnedRecord,
    /// Logical topic name, as in `topics.toml`.
    pub logical_topic: &'static str,
}

impl std::ops::Deref for Record {
    type Target = OwnedRecord;

    fn deref(&self) -> &OwnedRecord {
        &self.record
    }
}

/// An accepted event and where it came from in the log.
#[derive(Debug, Clone)]
pub struct Sourced {
    pub event: Event,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What applying a batch did, for telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events already applied before (by idempotency key or event id) and so counted nothing.
    pub duplicates: usize,
}

/// A projection of some topics into some tables.
pub trait Projection: Send + Sync + 'static {
    /// Name under which its offsets are stored (`projector_offsets.projector`) and its metrics
    /// labelled. Changing it restarts the projection from the beginning of its topics.
    fn name(&self) -> &'static str;

    /// Logical topic names (as in `topics.toml`) it reads.
    fn topics(&self) -> &'static [&'static str];

    /// Decides what to do with a record: `Ok(Some(event))` to apply it, `Ok(None)` to pass over
    /// it (an event type this projection does not fold; its offset still advances),
    /// `Err(reason)` to dead-letter it. The default decodes the value and checks that the key
    /// is the event's company (or, for platform events, what `topics.toml` declares).
    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        decode_keyed(record).map(Some)
    }

    /// Applies a batch's accepted events, in log order per partition, inside the loop's
    /// transaction (which also advances the offsets). Must be idempotent per event for events
    /// that carry an idempotency key, and must set the tenant before writing company-scoped
    /// rows (row-level security).
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>>;
}

/// Decodes a record's value and checks its key ([`Event::key`]).
pub fn decode_keyed(record: &Record) -> Result<Event, String> {
    let payload = record.payload.as_deref().ok_or("record has no value")?;
    let event = trestle_events::decode(payload).map_err(|e| e.to_string())?;
    let expected = event.key();
    if record.key.as_deref() != Some(expected.as_bytes()) {
        return Err(format!(
            "record key {:?} is not the event's key {expected}",
            record.key.as_deref().map(String::from_utf8_lossy)
        ));
    }
    if event.topic().name() != record.logical_topic {
        return Err(format!(
            "{} does not belong on the {} topic",
            event.name(),
            record.logical_topic
        ));
    }
    Ok(event)
}
