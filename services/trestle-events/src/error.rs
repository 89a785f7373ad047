//! The crate's error type: every way encoding, decoding or checking a schema can fail.

/// A boxed error from the Avro library, kept opaque so no other crate depends on it.
pub type AvroError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in this crate. Decoding never panics: bad input is one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not Avro single-object encoding (too short or wrong `C3 01` marker).
    #[error("not Avro single-object encoding: {reason}")]
    NotSingleObject {
        /// What is wrong with the header.
        reason: &'static str,
    },
    /// The header names a schema fingerprint no schema in `schemas/` has.
    #[error("no known schema has CRC-64-AVRO fingerprint {fingerprint:#018x}")]
    UnknownFingerprint {
        /// The fingerprint read from the header.
        fingerprint: u64,
    },
    /// The body could not be read with the writer schema or resolved to the current schema.
    #[error("cannot decode the body of {event} (written with schema v{version})")]
    Body {
        /// Event type named by the writer schema.
        event: &'static str,
        /// Version of the writer schema.
        version: u32,
        /// The Avro library's error.
        #[source]
        source: AvroError,
    },
    /// The body was decoded but bytes were left over after it.
    #[error("{count} unexpected bytes after the body of {event}")]
    TrailingBytes {
        /// Event type named by the writer schema.
        event: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A decoded field does not fit the Rust type (e.g. a timestamp out of range).
    #[error("{event}.{field}: {reason}")]
    Field {
        /// Event type.
        event: &'static str,
        /// Field name as in the schema.
        field: &'static str,
        /// What did not fit.
        reason: String,
    },
    /// The Rust fields of an event do not match its current schema: a bug in this crate.
    #[error("{event}: Rust fields {rust:?} do not match schema fields {schema:?}")]
    Mapping {
        /// Event type.
        event: &'static str,
        /// Field names the Rust type produced.
        rust: Vec<String>,
        /// Field names of the current schema.
        schema: Vec<String>,
    },
    /// A value could not be encoded with the current schema.
    #[error("cannot encode {event}")]
    Encode {
        /// Event type.
        event: &'static str,
        /// The Avro library's error.
        #[source]
        source: AvroError,
    },
    /// No event type with this name exists.
    #[error("unknown event type {name:?}")]
    UnknownEvent {
        /// The name asked for.
        name: String,
    },
    /// A schema text is not a valid Avro schema.
    #[error("invalid schema {schema}: {reason}")]
    Schema {
        /// Which schema (a path or an event name and version).
        schema: String,
        /// What is wrong.
        reason: String,
    },
    /// Two versions of an event's schema cannot read each other's data.
    #[error("{event}: data written with v{writer_version} cannot be fully read with v{reader_version}: {reason}")]
    Incompatible {
        /// Event type.
        event: String,
        /// Version of the writer schema.
        writer_version: u32,
        /// Version of the reader schema.
        reader_version: u32,
        /// Why, as the compatibility checker says.
        reason: String,
    },
}
