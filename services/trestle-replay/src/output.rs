//! The output formats: one JSON Lines object or one CSV row per event (and, when asked, per
//! undecodable record).

use std::io::{BufWriter, Write};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use trestle_events::Event;

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One JSON object per line:
    /// `{"topic","partition","offset","timestamp","event":{"type":...,envelope...,fields...}}`.
    #[default]
    JsonLines,
    /// A header, then one row per event with the columns of [`CSV_COLUMNS`].
    Csv,
}

/// The CSV columns, in order. `payload_json` holds the fields after the envelope as JSON.
pub const CSV_COLUMNS: [&str; 10] = [
    "topic",
    "partition",
    "offset",
    "event_type",
    "event_id",
    "company_id",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "payload_json",
];

/// `event_type` of a CSV row standing for an undecodable record.
pub const UNDECODABLE_TYPE: &str = "<undecodable>";

/// The envelope keys of an event's JSON, which CSV puts in their own columns.
const ENVELOPE: [&str; 6] = [
    "type",
    "event_id",
    "company_id",
    "occurred_at",
    "correlation_id",
    "causation_id",
];

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" | "json-lines" | "ndjson" => Ok(Format::JsonLines),
            "csv" => Ok(Format::Csv),
            other => Err(format!("unknown format `{other}`; use jsonl or csv")),
        }
    }
}

/// Where a record was read.
pub(crate) struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
}

#[derive(Serialize)]
struct EventLine<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: Option<String>,
    event: &'a Event,
}

#[derive(Serialize)]
struct UndecodableLine<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: Option<String>,
    undecodable: Undecodable<'a>,
}

#[derive(Serialize)]
struct Undecodable<'a> {
    error: &'a str,
    key: Option<String>,
    value_base64: Option<String>,
}

/// The writer of one output format.
pub(crate) enum Sink<W: Write> {
    JsonLines(BufWriter<W>),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Sink<W> {
    /// Starts the output (the CSV header).
    pub(crate) fn new(format: Format, out: W) -> std::io::Result<Self> {
        Ok(match format {
            Format::JsonLines => Sink::JsonLines(BufWriter::with_capacity(256 * 1024, out)),
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .buffer_capacity(256 * 1024)
                    .from_writer(out);
                w.write_record(CSV_COLUMNS)?;
                Sink::Csv(Box::new(w))
            }
        })
    }

    pub(crate) fn event(&mut self, origin: &Origin<'_>, event: &Event) -> std::io::Result<()> {
        match self {
            Sink::JsonLines(w) => {
                let line = EventLine {
                    topic: origin.topic,
                    partition: origin.partition,
                    offset: origin.offset,
                    timestamp: origin.timestamp_ms.and_then(rfc3339_ms),
                    event,
                };
                serde_json::to_writer(&mut *w, &line)?;
                w.write_all(b"\n")
            }
            Sink::Csv(w) => {
                let meta = event.meta();
                let payload = payload_json(event)?;
                w.write_record([
                    origin.topic,
                    &origin.partition.to_string(),
                    &origin.offset.to_string(),
                    event.name(),
                    &meta.event_id.to_string(),
                    &meta.company_id.to_string(),
                    &meta
                        .occurred_at
                        .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    &meta.correlation_id.to_string(),
                    &meta.causation_id.to_string(),
                    &payload,
                ])?;
                Ok(())
            }
        }
    }

    /// An undecodable record, its value as base64 (`--include-undecodable`).
    pub(crate) fn undecodable(
        &mut self,
        origin: &Origin<'_>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        error: &str,
    ) -> std::io::Result<()> {
        let bad = Undecodable {
            error,
            key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
            value_base64: value.map(|v| base64::engine::general_purpose::STANDARD.encode(v)),
        };
        match self {
            Sink::JsonLines(w) => {
                let line = UndecodableLine {
                    topic: origin.topic,
                    partition: origin.partition,
                    offset: origin.offset,
                    timestamp: origin.timestamp_ms.and_then(rfc3339_ms),
                    undecodable: bad,
                };
                serde_json::to_writer(&mut *w, &line)?;
                w.write_all(b"\n")
            }
            Sink::Csv(w) => {
                // The key is the company when the producer followed the contract.
                let company = bad
                    .key
                    .as_deref()
                    .and_then(|k| uuid::Uuid::parse_str(k).ok())
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let payload = serde_json::to_string(&bad)?;
                w.write_record([
                    origin.topic,
                    &origin.partition.to_string(),
                    &origin.offset.to_string(),
                    UNDECODABLE_TYPE,
                    "",
                    &company,
                    "",
                    "",
                    "",
                    &payload,
                ])?;
                Ok(())
            }
        }
    }

    pub(crate) fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::JsonLines(mut w) => w.flush(),
            Sink::Csv(mut w) => w.flush(),
        }
    }
}

/// The event's own fields (everything but the type and the envelope) as a JSON object.
fn payload_json(event: &Event) -> std::io::Result<String> {
    let mut value = serde_json::to_value(event)?;
    if let Some(map) = value.as_object_mut() {
        for key in ENVELOPE {
            map.remove(key);
        }
    }
    Ok(value.to_string())
}

/// A record timestamp as RFC 3339 UTC with milliseconds, e.g. `2026-11-30T08:15:00.123Z`.
pub(crate) fn rfc3339_ms(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}
