//! The schema files themselves: every one maps to a Rust type, carries the envelope, documents
//! every field, and gives defaults where evolution needs them.

use serde_json::Value as Json;
use trestle_events::*;

fn current_schemas() -> Vec<(&'static str, Json)> {
    registry()
        .iter()
        .filter(|v| v.is_current())
        .map(|v| (v.name(), serde_json::from_str(v.json()).unwrap()))
        .collect()
}

fn fields(schema: &Json) -> &Vec<Json> {
    schema["fields"].as_array().expect("record fields")
}

#[test]
fn every_schema_is_a_documented_record_in_the_trestle_namespace() {
    for (name, schema) in current_schemas() {
        assert_eq!(schema["type"], "record", "{name}");
        assert_eq!(schema["name"], name, "{name}: record name = file name");
        assert_eq!(schema["namespace"], "trestle.events", "{name}");
        assert!(
            schema["doc"].as_str().is_some_and(|d| !d.is_empty()),
            "{name} has no doc"
        );
        for field in fields(&schema) {
            assert!(
                field["doc"].as_str().is_some_and(|d| !d.is_empty()),
                "{name}.{} has no doc",
                field["name"]
            );
        }
    }
}

#[test]
fn every_record_starts_with_the_flat_envelope() {
    let uuid = serde_json::json!({"type": "string", "logicalType": "uuid"});
    let micros = serde_json::json!({"type": "long", "logicalType": "timestamp-micros"});
    let envelope = [
        ("event_id", &uuid),
        ("company_id", &uuid),
        ("occurred_at", &micros),
        ("correlation_id", &uuid),
        ("causation_id", &uuid),
    ];
    for version in registry().iter() {
        let schema: Json = serde_json::from_str(version.json()).unwrap();
        let fields = fields(&schema);
        for (i, (name, ty)) in envelope.iter().enumerate() {
            assert_eq!(fields[i]["name"], *name, "{}", version.path());
            assert_eq!(&fields[i]["type"], *ty, "{}.{name}", version.path());
        }
    }
}

#[test]
fn optional_fields_default_to_null_and_enums_to_unknown() {
    fn walk(name: &str, ty: &Json, field: &Json) {
        match ty {
            Json::Array(branches) => {
                assert_eq!(
                    branches[0], "null",
                    "{name}.{}: null first in a union",
                    field["name"]
                );
                assert_eq!(
                    field.get("default"),
                    Some(&Json::Null),
                    "{name}.{}: default null",
                    field["name"]
                );
            }
            Json::Object(o) if o["type"] == "enum" => {
                assert_eq!(
                    o["default"], "unknown",
                    "{name}: enum {} needs default unknown",
                    o["name"]
                );
                assert_eq!(o["symbols"].as_array().unwrap().last().unwrap(), "unknown");
                assert!(o["doc"].is_string(), "enum {} has no doc", o["name"]);
            }
            _ => {}
        }
    }
    for (name, schema) in current_schemas() {
        for field in fields(&schema) {
            walk(name, &field["type"], field);
        }
    }
}

/// (Avro enum name, Rust symbols); also checks that serde names are the Avro symbols.
fn rust_enums() -> Vec<(&'static str, Vec<&'static str>)> {
    fn symbols<T: Copy + serde::Serialize>(
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) -> Vec<&'static str> {
        all.iter()
            .map(|&v| {
                assert_eq!(serde_json::to_value(v).unwrap(), as_str(v), "serde name");
                as_str(v)
            })
            .collect()
    }
    vec![
        ("Tier", symbols(Tier::ALL, Tier::as_str)),
        ("Region", symbols(Region::ALL, Region::as_str)),
        (
            "IsolationLevel",
            symbols(IsolationLevel::ALL, IsolationLevel::as_str),
        ),
        (
            "AiRequestKind",
            symbols(AiRequestKind::ALL, AiRequestKind::as_str),
        ),
        ("AnswerPath", symbols(AnswerPath::ALL, AnswerPath::as_str)),
        (
            "ThrottleReason",
            symbols(ThrottleReason::ALL, ThrottleReason::as_str),
        ),
        ("Meter", symbols(Meter::ALL, Meter::as_str)),
        (
            "NotebookTier",
            symbols(NotebookTier::ALL, NotebookTier::as_str),
        ),
        (
            "DocumentKind",
            symbols(DocumentKind::ALL, DocumentKind::as_str),
        ),
        (
            "NotebookPurpose",
            symbols(NotebookPurpose::ALL, NotebookPurpose::as_str),
        ),
        ("AlertKind", symbols(AlertKind::ALL, AlertKind::as_str)),
        (
            "RerouteReason",
            symbols(RerouteReason::ALL, RerouteReason::as_str),
        ),
        (
            "AlertSeverity",
            symbols(AlertSeverity::ALL, AlertSeverity::as_str),
        ),
    ]
}

#[test]
fn rust_enums_have_exactly_the_schema_symbols() {
    let mut seen = std::collections::BTreeMap::new();
    for (name, schema) in current_schemas() {
        for field in fields(&schema) {
            if field["type"]["type"] == "enum" {
                let enum_name = field["type"]["name"].as_str().unwrap().to_owned();
                let symbols: Vec<String> =
                    serde_json::from_value(field["type"]["symbols"].clone()).unwrap();
                if let Some(before) = seen.insert(enum_name.clone(), symbols.clone()) {
                    assert_eq!(
                        before, symbols,
                        "enum {enum_name} defined differently in {name}"
                    );
                }
            }
        }
    }
    let rust = rust_enums();
    assert_eq!(seen.len(), rust.len(), "schemas define {:?}", seen.keys());
    for (enum_name, symbols) in rust {
        assert_eq!(seen[enum_name], symbols, "{enum_name}");
    }
}

#[test]
fn lookups_by_name_agree() {
    for name in Event::NAMES {
        let current = registry().current(name).unwrap();
        assert_eq!(fingerprint(name), Some(current.fingerprint()));
        assert_eq!(schema_json(name), Some(current.json()));
        assert_eq!(
            registry()
                .by_fingerprint(current.fingerprint())
                .unwrap()
                .name(),
            *name
        );
        let versions: Vec<u32> = registry()
            .versions(name)
            .map(SchemaVersion::version)
            .collect();
        assert_eq!(
            versions,
            (1..=current.version()).collect::<Vec<_>>(),
            "{name}"
        );
    }
    assert_eq!(fingerprint("NoSuchEvent"), None);
    assert_eq!(schema_json("NoSuchEvent"), None);
    assert!(Topic::ALL
        .iter()
        .all(|t| Topic::from_name(t.name()) == Some(*t)));
}

#[test]
fn usage_idempotency_key_is_request_and_meter() {
    let request = uuid::Uuid::parse_str("0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee").unwrap();
    assert_eq!(
        UsageRecorded::idempotency_key_for(request, Meter::GeminiProQueries),
        "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee:gemini_pro_queries"
    );
}
