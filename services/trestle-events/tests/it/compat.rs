//! FULL_TRANSITIVE compatibility of every event's schema history, checked on the schemas and
//! on bytes: fixtures written by earlier versions (`schemas/fixtures/<Event>.v<N>.bin`) must
//! decode with the current schemas, and current records with every earlier schema.
//!
//! To add fixtures for a new schema version:
//! `TRESTLE_WRITE_FIXTURES=1 cargo test -p trestle-events --test it compat::`
//! writes the missing `<Event>.v<current>.bin` from the first sample of that event; it never
//! overwrites an existing fixture.

use std::path::PathBuf;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::RecordSchema;
use apache_avro::types::Value;
use apache_avro::Schema;
use serde_json::Value as Json;
use trestle_events::{
    check_full_transitive, decode, encode, read_header, registry, Event, SchemaVersion,
};

use crate::{samples, schemas_dir};

fn fixture_path(name: &str, version: u32) -> PathBuf {
    schemas_dir()
        .join("fixtures")
        .join(format!("{name}.v{version}.bin"))
}

fn versions(name: &str) -> Vec<(u32, &'static str)> {
    registry()
        .versions(name)
        .map(|v| (v.version(), v.json()))
        .collect()
}

#[test]
fn every_event_history_is_full_transitive_compatible() {
    for name in Event::NAMES {
        check_full_transitive(name, &versions(name)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn some_event_has_evolved_so_the_checks_have_history_to_check() {
    let evolved: Vec<&str> = Event::NAMES
        .iter()
        .copied()
        .filter(|n| versions(n).len() > 1)
        .collect();
    assert!(
        evolved.contains(&"AiRequestSubmitted"),
        "evolved: {evolved:?}"
    );
}

/// A change to the current AiRequestSubmitted schema, and whether FULL_TRANSITIVE allows it.
type Mutation = fn(&mut Json);

fn field<'a>(schema: &'a mut Json, name: &str) -> &'a mut Json {
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["name"] == name)
        .unwrap()
}

fn remove_field(schema: &mut Json, name: &str) {
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["name"] != name);
}

fn push_field(schema: &mut Json, field: Json) {
    schema["fields"].as_array_mut().unwrap().push(field);
}

const MUTATIONS: &[(&str, Mutation, bool)] = &[
    ("unchanged", |_| {}, true),
    (
        "new optional field with a default",
        |s| {
            push_field(
                s,
                serde_json::json!({"name": "locale", "type": ["null", "string"], "default": null}),
            )
        },
        true,
    ),
    (
        "new required field without a default",
        |s| push_field(s, serde_json::json!({"name": "locale", "type": "string"})),
        false,
    ),
    (
        "required field removed",
        |s| remove_field(s, "prompt"),
        false,
    ),
    (
        "optional field with a default removed",
        |s| remove_field(s, "job_id"),
        true,
    ),
    (
        "field type changed from string to long",
        |s| field(s, "user_id")["type"] = "long".into(),
        false,
    ),
    (
        "field renamed without an alias",
        |s| field(s, "prompt")["name"] = "question".into(),
        false,
    ),
    (
        "optional field made required",
        |s| {
            let f = field(s, "ordering_key");
            f["type"] = "string".into();
            f.as_object_mut().unwrap().remove("default");
        },
        false,
    ),
    (
        "enum symbol added (the enum has a default)",
        |s| {
            field(s, "kind")["type"]["symbols"]
                .as_array_mut()
                .unwrap()
                .push("audio_briefing".into())
        },
        true,
    ),
    (
        "enum default and a symbol removed",
        |s| {
            let kind = &mut field(s, "kind")["type"];
            kind.as_object_mut().unwrap().remove("default");
            kind["symbols"]
                .as_array_mut()
                .unwrap()
                .retain(|s| s != "chat");
        },
        false,
    ),
    (
        "record renamed",
        |s| s["name"] = "AiRequestSubmittedV3".into(),
        false,
    ),
];

#[test]
fn checker_accepts_compatible_and_rejects_incompatible_changes() {
    let name = "AiRequestSubmitted";
    let current = registry().current(name).unwrap();
    for &(case, mutate, compatible) in MUTATIONS {
        let mut schema: Json = serde_json::from_str(current.json()).unwrap();
        mutate(&mut schema);
        let json = schema.to_string();
        let mut history = versions(name);
        history.push((current.version() + 1, &json));
        let result = check_full_transitive(name, &history);
        assert_eq!(result.is_ok(), compatible, "{case}: {result:?}");
        if let Err(e) = result {
            assert!(
                matches!(e, trestle_events::Error::Incompatible { .. }),
                "{case}: {e:?}"
            );
        }
    }
}

fn write_missing_fixture(version: &SchemaVersion) -> bool {
    if std::env::var_os("TRESTLE_WRITE_FIXTURES").is_none_or(|v| v != "1") || !version.is_current()
    {
        return false;
    }
    let sample = samples::full()
        .into_iter()
        .find(|e| e.name() == version.name())
        .unwrap();
    std::fs::write(
        fixture_path(version.name(), version.version()),
        encode(&sample).unwrap(),
    )
    .unwrap();
    true
}

#[test]
fn every_schema_version_has_a_fixture_written_with_it() {
    let mut expected_files = std::collections::BTreeSet::new();
    for version in registry().iter() {
        let path = fixture_path(version.name(), version.version());
        expected_files.insert(path.file_name().unwrap().to_owned());
        if !path.exists() && !write_missing_fixture(version) {
            panic!(
                "{} is missing: run TRESTLE_WRITE_FIXTURES=1 cargo test -p trestle-events --test it compat::",
                path.display()
            );
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            read_header(&bytes).unwrap(),
            version.fingerprint(),
            "{} was not written with schemas/{}: a released schema was edited in place? \
             Restore it, move it to schemas/history/ and make the change a new version",
            path.display(),
            version.path()
        );
    }
    for entry in std::fs::read_dir(schemas_dir().join("fixtures")).unwrap() {
        let file = entry.unwrap().file_name();
        if file.to_string_lossy().ends_with(".bin") {
            assert!(
                expected_files.contains(&file),
                "fixture {file:?} matches no schema version"
            );
        }
    }
}

#[test]
fn fixtures_of_every_version_decode_with_the_current_schemas() {
    for version in registry().iter() {
        let Ok(bytes) = std::fs::read(fixture_path(version.name(), version.version())) else {
            continue; // reported by every_schema_version_has_a_fixture_written_with_it
        };
        let event = decode(&bytes)
            .unwrap_or_else(|e| panic!("{} v{}: {e:?}", version.name(), version.version()));
        assert_eq!(event.name(), version.name());
        let current = registry().current(version.name()).unwrap();
        check_resolution(version.json(), current.json(), &bytes[10..]).unwrap_or_else(|e| {
            panic!(
                "{} v{} read as v{}: {e}",
                version.name(),
                version.version(),
                current.version()
            )
        });
    }
}

#[test]
fn current_records_decode_with_every_earlier_schema() {
    for event in samples::all() {
        let bytes = encode(&event).unwrap();
        let current = registry().current(event.name()).unwrap();
        for old in registry()
            .versions(event.name())
            .filter(|v| !v.is_current())
        {
            check_resolution(current.json(), old.json(), &bytes[10..]).unwrap_or_else(|e| {
                panic!(
                    "{} v{} read as v{}: {e}",
                    event.name(),
                    current.version(),
                    old.version()
                )
            });
        }
    }
}

/// Reads `body` written with `writer` both as is and resolved to `reader`: every field both
/// schemas have must read the same, and every field only the reader has must be its default.
fn check_resolution(writer: &str, reader: &str, body: &[u8]) -> Result<(), String> {
    let writer = Schema::parse_str(writer).map_err(|e| e.to_string())?;
    let reader = Schema::parse_str(reader).map_err(|e| e.to_string())?;
    let read = |reader_schema: Option<&Schema>| -> Result<Vec<(String, Value)>, String> {
        let mut rest = body;
        let value = GenericDatumReader::builder(&writer)
            .maybe_reader_schema(reader_schema)
            .build()
            .and_then(|r| r.read_value(&mut rest))
            .map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err(format!("{} bytes left over", rest.len()));
        }
        match value {
            Value::Record(fields) => Ok(fields),
            other => Err(format!("not a record: {other:?}")),
        }
    };
    let as_written = read(None)?;
    let resolved = read(Some(&reader))?;
    let Schema::Record(RecordSchema {
        fields: reader_fields,
        ..
    }) = &reader
    else {
        return Err("reader is not a record".into());
    };
    for (name, value) in resolved {
        let expected = match as_written.iter().find(|(n, _)| *n == name) {
            Some((_, written)) => normalize(written.clone()),
            None => {
                let field = reader_fields.iter().find(|f| f.name == name).unwrap();
                let default = field
                    .default
                    .clone()
                    .ok_or(format!("{name}: new field without default"))?;
                from_json(default)
            }
        };
        if !same(&normalize(value.clone()), &expected) {
            return Err(format!("{name}: read {value:?}, expected {expected:?}"));
        }
    }
    Ok(())
}

/// Drops what may legitimately differ between writer and reader: union branch and enum
/// indexes, logical-type wrappers, int/long width.
fn normalize(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => normalize(*inner),
        Value::Enum(_, symbol) => Value::String(symbol),
        Value::Uuid(u) => Value::String(u.to_string()),
        Value::TimestampMicros(t) => Value::Long(t),
        Value::Int(i) => Value::Long(i.into()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

fn from_json(json: Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Long)
            .unwrap_or_else(|| Value::Double(n.as_f64().unwrap())),
        Json::String(s) => Value::String(s),
        Json::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        Json::Object(o) => Value::Record(o.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Long(y)) | (Value::Long(y), Value::Double(x)) => *x == *y as f64,
        _ => a == b,
    }
}
