//! The envelope every event carries: identity, tenant, time and causality.

use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::value::{AvroField, Fields};
use crate::Error;

/// `company_id` of platform-scoped events (provider circuits, platform-wide alerts): the nil UUID.
pub const PLATFORM_COMPANY_ID: Uuid = Uuid::nil();

/// Envelope fields, first in every record and flat on the wire (no nested record), so any
/// language reads them without a shared named type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Meta {
    /// Unique id of this event, a UUIDv7.
    pub event_id: Uuid,
    /// The tenant, or [`PLATFORM_COMPANY_ID`]. Also the Kafka key.
    pub company_id: Uuid,
    /// When it happened; microsecond precision on the wire.
    pub occurred_at: DateTime<Utc>,
    /// `event_id` of the causal chain's root event.
    pub correlation_id: Uuid,
    /// `event_id` of the direct cause; a root event's own `event_id`.
    pub causation_id: Uuid,
}

impl Meta {
    /// Envelope of an event that starts a causal chain (e.g. a request from outside).
    pub fn root(company_id: Uuid) -> Meta {
        let event_id = Uuid::now_v7();
        Meta {
            event_id,
            company_id,
            occurred_at: now_micros(),
            correlation_id: event_id,
            causation_id: event_id,
        }
    }

    /// Envelope of a platform-scoped root event (`company_id` is [`PLATFORM_COMPANY_ID`]).
    pub fn platform() -> Meta {
        Meta::root(PLATFORM_COMPANY_ID)
    }

    /// Envelope of an event caused by `parent`: same company and correlation.
    pub fn caused_by(parent: &Meta) -> Meta {
        Meta {
            event_id: Uuid::now_v7(),
            company_id: parent.company_id,
            occurred_at: now_micros(),
            correlation_id: parent.correlation_id,
            causation_id: parent.event_id,
        }
    }

    /// Whether this event belongs to no tenant.
    pub fn is_platform(&self) -> bool {
        self.company_id == PLATFORM_COMPANY_ID
    }

    pub(crate) fn push_fields(&self, out: &mut Vec<(String, Value)>) {
        out.push(("event_id".into(), self.event_id.to_avro()));
        out.push(("company_id".into(), self.company_id.to_avro()));
        out.push(("occurred_at".into(), self.occurred_at.to_avro()));
        out.push(("correlation_id".into(), self.correlation_id.to_avro()));
        out.push(("causation_id".into(), self.causation_id.to_avro()));
    }

    pub(crate) fn from_fields(fields: &mut Fields) -> Result<Meta, Error> {
        Ok(Meta {
            event_id: fields.take("event_id")?,
            company_id: fields.take("company_id")?,
            occurred_at: fields.take("occurred_at")?,
            correlation_id: fields.take("correlation_id")?,
            causation_id: fields.take("causation_id")?,
        })
    }
}

/// The current time truncated to microseconds, the precision of `timestamp-micros`, so a
/// timestamp survives encoding unchanged.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
