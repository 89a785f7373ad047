//! The schema registry: every schema version under `schemas/`, embedded at compile time,
//! looked up by fingerprint (to decode) and by event name (to encode).

use std::collections::HashMap;
use std::sync::LazyLock;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::ResolvedSchema;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;

use crate::canonical::canonical_form;
use crate::rabin::crc64_avro;
use crate::{Error, Event, Topic};

/// The most a single string, bytes or array of a record may claim while decoding (the Avro
/// library's default is 512 MiB). A corrupt length prefix is then an error, not a huge
/// allocation; no event comes near it (Kafka's default message limit is 1 MiB).
/// Process-wide: set when the registry loads, this crate being the only user of Avro.
pub(crate) const MAX_ALLOCATION_BYTES: usize = 16 << 20;

/// One embedded schema file, as listed by `build.rs`.
pub(crate) struct SchemaFile {
    topic: &'static str,
    name: &'static str,
    version: u32,
    current: bool,
    path: &'static str,
    json: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/schemas.rs"));

/// One version of one event's schema.
pub struct SchemaVersion {
    name: &'static str,
    topic: Topic,
    version: u32,
    current: bool,
    path: &'static str,
    json: &'static str,
    canonical_form: String,
    fingerprint: u64,
    /// Reads a body written with this version, resolved to the current version.
    pub(crate) reader: GenericDatumReader<'static>,
    /// For the current version only: writes bodies.
    pub(crate) writer: Option<Writer>,
}

/// What encoding with a current schema needs.
pub(crate) struct Writer {
    pub(crate) schema: &'static Schema,
    pub(crate) names: ResolvedSchema<'static>,
    pub(crate) datum: GenericDatumWriter<'static>,
}

impl SchemaVersion {
    /// Event type name, e.g. `"AiRequestSubmitted"`.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// Topic, from the schema's directory.
    pub fn topic(&self) -> Topic {
        self.topic
    }
    /// Version number, from 1.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Whether this is the version new events are written with.
    pub fn is_current(&self) -> bool {
        self.current
    }
    /// Path relative to `schemas/`, e.g. `"history/ai-requests/AiRequestSubmitted.v1.avsc"`.
    pub fn path(&self) -> &'static str {
        self.path
    }
    /// The schema file's text.
    pub fn json(&self) -> &'static str {
        self.json
    }
    /// Parsing Canonical Form, per the Avro spec.
    pub fn canonical_form(&self) -> &str {
        &self.canonical_form
    }
    /// CRC-64-AVRO fingerprint of the canonical form.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl std::fmt::Debug for SchemaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaVersion")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("current", &self.current)
            .field("path", &self.path)
            .field("fingerprint", &format_args!("{:#018x}", self.fingerprint))
            .finish()
    }
}

/// Every schema version, oldest first per event.
#[derive(Debug)]
pub struct Registry {
    versions: Vec<SchemaVersion>,
    by_fingerprint: HashMap<u64, usize>,
    current: HashMap<&'static str, usize>,
}

impl Registry {
    /// The schema version with this fingerprint.
    pub fn by_fingerprint(&self, fingerprint: u64) -> Option<&SchemaVersion> {
        self.by_fingerprint
            .get(&fingerprint)
            .map(|&i| &self.versions[i])
    }

    /// The current schema version of the event type `name`.
    pub fn current(&self, name: &str) -> Option<&SchemaVersion> {
        self.current.get(name).map(|&i| &self.versions[i])
    }

    /// Every version of the event type `name`, oldest first (empty if unknown).
    pub fn versions<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a SchemaVersion> + 'a {
        self.versions.iter().filter(move |v| v.name == name)
    }

    /// Every schema version of every event.
    pub fn iter(&self) -> impl Iterator<Item = &SchemaVersion> {
        self.versions.iter()
    }

    /// Every event type name that has a schema.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.versions.iter().filter(|v| v.current).map(|v| v.name)
    }

    fn load() -> Result<Registry, Error> {
        // Before any decoding: cap what a length prefix can make the decoder allocate.
        apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
        let invalid = |file: &SchemaFile, reason: String| Error::Schema {
            schema: format!("schemas/{}", file.path),
            reason,
        };
        let mut files: Vec<&'static SchemaFile> = SCHEMA_FILES.iter().collect();
        files.sort_by_key(|f| (f.name, f.version));

        // Parse every file once; the schemas live as long as the program (the registry is a
        // process-wide static), which lets readers and writers borrow them.
        let mut parsed: Vec<&'static Schema> = Vec::with_capacity(files.len());
        let mut current_schema: HashMap<&'static str, &'static Schema> = HashMap::new();
        for file in &files {
            let schema = Schema::parse_str(file.json).map_err(|e| invalid(file, e.to_string()))?;
            let record_name = schema.name().map(|n| n.fullname(None));
            if record_name.as_deref() != Some(&format!("trestle.events.{}", file.name)) {
                return Err(invalid(
                    file,
                    format!(
                        "record is named {record_name:?}, expected trestle.events.{}",
                        file.name
                    ),
                ));
            }
            let schema: &'static Schema = Box::leak(Box::new(schema));
            if file.current {
                current_schema.insert(file.name, schema);
            }
            parsed.push(schema);
        }

        let mut registry = Registry {
            versions: Vec::new(),
            by_fingerprint: HashMap::new(),
            current: HashMap::new(),
        };
        for (file, schema) in files.into_iter().zip(parsed) {
            let topic = Topic::from_name(file.topic)
                .ok_or_else(|| invalid(file, format!("{} is not a topic", file.topic)))?;
            if Event::topic_of(file.name) != Some(topic) {
                return Err(invalid(
                    file,
                    format!("no Rust event {} on topic {topic}", file.name),
                ));
            }
            let canonical_form = canonical_form(file.json)?;
            let fingerprint = crc64_avro(canonical_form.as_bytes());
            let current = current_schema[file.name];
            let avro = |e: apache_avro::Error| invalid(file, e.to_string());
            let reader = GenericDatumReader::builder(schema)
                .reader_schema(current)
                .build()
                .map_err(avro)?;
            let writer = if file.current {
                let names = ResolvedSchema::try_from(schema).map_err(avro)?;
                let datum = GenericDatumWriter::builder(schema)
                    .resolved_schemata(names.clone())
                    .build()
                    .map_err(avro)?;
                Some(Writer {
                    schema,
                    names,
                    datum,
                })
            } else {
                None
            };
            let index = registry.versions.len();
            if let Some(clash) = registry.by_fingerprint.insert(fingerprint, index) {
                let other = &registry.versions[clash];
                return Err(invalid(
                    file,
                    format!(
                        "same fingerprint as {} (identical canonical form)",
                        other.path
                    ),
                ));
            }
            if file.current {
                registry.current.insert(file.name, index);
            }
            registry.versions.push(SchemaVersion {
                name: file.name,
                topic,
                version: file.version,
                current: file.current,
                path: file.path,
                json: file.json,
                canonical_form,
                fingerprint,
                reader,
                writer,
            });
        }
        Ok(registry)
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    // The schemas are compiled in and checked by this crate's tests; a failure here is a
    // build that shipped a broken schema file, not bad input.
    Registry::load().unwrap_or_else(|e| panic!("embedded schemas are invalid: {e}"))
});

/// The registry of every schema version under `schemas/`.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// CRC-64-AVRO fingerprint of the current schema of the event type `name`.
pub fn fingerprint(name: &str) -> Option<u64> {
    registry().current(name).map(SchemaVersion::fingerprint)
}

/// Text of the current schema file of the event type `name`.
pub fn schema_json(name: &str) -> Option<&'static str> {
    registry().current(name).map(SchemaVersion::json)
}
