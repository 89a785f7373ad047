//! Avro single-object encoding of events: `C3 01`, the writer schema's CRC-64-AVRO
//! fingerprint (8 bytes, little-endian), then the Avro binary body.
//!
//! The header is written and read here, not by the Avro library, so it depends only on the
//! spec and on our own canonical form (see `canonical`).

use std::io::Read;

use apache_avro::types::Value;

use crate::registry::registry;
use crate::{AvroError, Error, Event};

/// The two marker bytes that start every single-object encoded record. Never change.
pub const MARKER: [u8; 2] = [0xC3, 0x01];

/// Length of the header: marker plus fingerprint.
pub const HEADER_LEN: usize = 10;

/// Encodes `event` with the current schema of its type, as Avro single-object encoding.
///
/// Timestamps are written in microseconds: finer precision is dropped.
pub fn encode(event: &Event) -> Result<Vec<u8>, Error> {
    let name = event.name();
    let version = registry()
        .current(name)
        .ok_or_else(|| Error::UnknownEvent {
            name: name.to_owned(),
        })?;
    let writer = version
        .writer
        .as_ref()
        .expect("the current version has a writer");

    let fields = event.avro_fields();
    check_fields(name, &fields, writer.schema)?;
    let avro = |e: apache_avro::Error| Error::Encode {
        event: name,
        source: Box::new(e),
    };
    let value = Value::Record(fields)
        .resolve_with_names(writer.schema, writer.names.get_names())
        .map_err(avro)?;

    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&version.fingerprint().to_le_bytes());
    writer
        .datum
        .write_value_ref(&mut out, &value)
        .map_err(avro)?;
    Ok(out)
}

/// Decodes single-object bytes written with any known version of any event's schema,
/// resolving old versions to the current one.
pub fn decode(bytes: &[u8]) -> Result<Event, Error> {
    let fingerprint = read_header(bytes)?;
    let version = registry()
        .by_fingerprint(fingerprint)
        .ok_or(Error::UnknownFingerprint { fingerprint })?;
    let event = version.name();
    let mut body = EofGuard {
        rest: &bytes[HEADER_LEN..],
        hit_eof: false,
    };
    let body_error = |source: AvroError| Error::Body {
        event,
        version: version.version(),
        source,
    };
    let value = version
        .reader
        .read_value(&mut body)
        .map_err(|e| body_error(Box::new(e)))?;
    if body.hit_eof {
        return Err(body_error("the body ends early (truncated record)".into()));
    }
    if !body.rest.is_empty() {
        return Err(Error::TrailingBytes {
            event,
            count: body.rest.len(),
        });
    }
    match value {
        Value::Record(fields) => Event::from_fields(event, fields),
        other => Err(Error::Field {
            event,
            field: "",
            reason: format!("expected a record, got {other:?}"),
        }),
    }
}

/// The body being decoded, remembering whether the decoder tried to read past its end.
///
/// The Avro library reads a missing boolean, string or union index at end of input as null
/// instead of failing, so a record cut short after its last complete field would decode
/// "successfully". The decoder never reads beyond what the schema says, so any read attempted
/// at the end means the record is truncated.
struct EofGuard<'a> {
    rest: &'a [u8],
    hit_eof: bool,
}

impl Read for EofGuard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.rest.is_empty() && !buf.is_empty() {
            self.hit_eof = true;
        }
        self.rest.read(buf)
    }
}

/// The writer-schema fingerprint of single-object encoded `bytes`, without decoding the body.
pub fn read_header(bytes: &[u8]) -> Result<u64, Error> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::NotSingleObject {
            reason: "shorter than the 10-byte header",
        });
    }
    if bytes[..2] != MARKER {
        return Err(Error::NotSingleObject {
            reason: "does not start with the C3 01 marker",
        });
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok(u64::from_le_bytes(fp))
}

/// Guards against a Rust struct drifting from its schema: a schema field without a Rust field
/// would silently be written as its default.
fn check_fields(
    event: &'static str,
    fields: &[(String, Value)],
    schema: &apache_avro::Schema,
) -> Result<(), Error> {
    let apache_avro::Schema::Record(record) = schema else {
        return Err(Error::Mapping {
            event,
            rust: Vec::new(),
            schema: vec!["<not a record>".into()],
        });
    };
    let same = record.fields.len() == fields.len()
        && record
            .fields
            .iter()
            .zip(fields)
            .all(|(s, (r, _))| s.name == *r);
    if same {
        Ok(())
    } else {
        Err(Error::Mapping {
            event,
            rust: fields.iter().map(|(n, _)| n.clone()).collect(),
            schema: record.fields.iter().map(|f| f.name.clone()).collect(),
        })
    }
}
