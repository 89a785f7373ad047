//! Conversion between Rust field types and the Avro library's `Value` (crate-internal).
//!
//! Values are produced in their plain form (a symbol for an enum, the inner value for an
//! optional field) and then resolved against the schema by the codec, which picks union
//! branches and enum indexes by name; so the Rust declaration order never has to match the
//! schema's symbol order.

use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Error;

/// A Rust type that maps to one Avro schema type.
pub(crate) trait AvroField: Sized {
    /// The value to encode.
    fn to_avro(&self) -> Value;
    /// The Rust value from a decoded (reader-resolved) value; `Err` says why it does not fit.
    fn from_avro(value: Value) -> Result<Self, String>;
}

/// An event type whose fields (after the envelope) map to its record schema.
pub(crate) trait Record: Sized {
    /// Appends every field, envelope first, in schema order.
    fn push_fields(&self, out: &mut Vec<(String, Value)>);
    /// Takes every field out of a decoded record.
    fn from_fields(fields: &mut Fields) -> Result<Self, Error>;
}

/// The fields of one decoded record, taken out by name.
pub(crate) struct Fields {
    pub(crate) event: &'static str,
    pub(crate) fields: Vec<(String, Value)>,
}

impl Fields {
    pub(crate) fn take<T: AvroField>(&mut self, field: &'static str) -> Result<T, Error> {
        let event = self.event;
        let pos = self
            .fields
            .iter()
            .position(|(name, _)| name == field)
            .ok_or_else(|| Error::Field {
                event,
                field,
                reason: "missing from the decoded record".into(),
            })?;
        let (_, value) = self.fields.swap_remove(pos);
        T::from_avro(value).map_err(|reason| Error::Field {
            event,
            field,
            reason,
        })
    }
}

fn unexpected<T>(expected: &str, got: &Value) -> Result<T, String> {
    Err(format!("expected {expected}, got {got:?}"))
}

impl AvroField for String {
    fn to_avro(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(s),
            other => unexpected("a string", &other),
        }
    }
}

impl AvroField for Vec<u8> {
    fn to_avro(&self) -> Value {
        Value::Bytes(self.clone())
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Bytes(b) => Ok(b),
            other => unexpected("bytes", &other),
        }
    }
}

impl AvroField for Uuid {
    fn to_avro(&self) -> Value {
        Value::Uuid(*self)
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Uuid(u) => Ok(u),
            Value::String(s) => {
                Uuid::parse_str(&s).map_err(|e| format!("{s:?} is not a UUID: {e}"))
            }
            other => unexpected("a uuid", &other),
        }
    }
}

/// `timestamp-micros`: sub-microsecond precision is dropped on encoding.
impl AvroField for DateTime<Utc> {
    fn to_avro(&self) -> Value {
        Value::TimestampMicros(self.timestamp_micros())
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::TimestampMicros(us) | Value::Long(us) => DateTime::from_timestamp_micros(us)
                .ok_or_else(|| format!("{us} µs is outside the representable time range")),
            other => unexpected("a timestamp-micros", &other),
        }
    }
}

impl AvroField for i64 {
    fn to_avro(&self) -> Value {
        Value::Long(*self)
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Long(v) => Ok(v),
            Value::Int(v) => Ok(v.into()),
            other => unexpected("a long", &other),
        }
    }
}

impl AvroField for i32 {
    fn to_avro(&self) -> Value {
        Value::Int(*self)
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Int(v) => Ok(v),
            other => unexpected("an int", &other),
        }
    }
}

impl AvroField for f64 {
    fn to_avro(&self) -> Value {
        Value::Double(*self)
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Double(v) => Ok(v),
            Value::Float(v) => Ok(v.into()),
            other => unexpected("a double", &other),
        }
    }
}

impl AvroField for bool {
    fn to_avro(&self) -> Value {
        Value::Boolean(*self)
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Boolean(v) => Ok(v),
            other => unexpected("a boolean", &other),
        }
    }
}

/// `["null", T]`: the codec's resolution picks the union branch.
impl<T: AvroField> AvroField for Option<T> {
    fn to_avro(&self) -> Value {
        match self {
            None => Value::Null,
            Some(v) => v.to_avro(),
        }
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Union(_, inner) => Self::from_avro(*inner),
            Value::Null => Ok(None),
            other => T::from_avro(other).map(Some),
        }
    }
}

impl<T: AvroField> AvroField for Vec<T> {
    fn to_avro(&self) -> Value {
        Value::Array(self.iter().map(AvroField::to_avro).collect())
    }
    fn from_avro(value: Value) -> Result<Self, String> {
        match value {
            Value::Array(items) => items.into_iter().map(T::from_avro).collect(),
            other => unexpected("an array", &other),
        }
    }
}
