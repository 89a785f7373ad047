//! Avro *Parsing Canonical Form* (PCF), implemented from the spec.
//!
//! The Avro library's own `canonical_form()` keeps `{"type":"long"}` objects for logical types
//! where the spec says `"long"` (AVRO-4004), which would give fingerprints other languages do
//! not compute. This module applies the spec's transformations to the schema JSON directly:
//! PRIMITIVES (bare names; logical types reduce to their primitive), FULLNAMES (names qualified,
//! `namespace` dropped), STRIP (only `name`, `type`, `fields`, `symbols`, `items`, `values`,
//! `size` kept), ORDER (in that order), STRINGS (serde_json writes UTF-8, not escapes),
//! INTEGERS (sizes as plain integers) and WHITESPACE (none).

use serde_json::{Map, Value};

use crate::Error;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The Parsing Canonical Form of a schema given as JSON text.
pub fn canonical_form(schema_json: &str) -> Result<String, Error> {
    let value: Value = serde_json::from_str(schema_json).map_err(|e| Error::Schema {
        schema: short(schema_json),
        reason: format!("not JSON: {e}"),
    })?;
    let mut out = String::with_capacity(schema_json.len() / 2);
    write_schema(&value, "", &mut out).map_err(|reason| Error::Schema {
        schema: short(schema_json),
        reason,
    })?;
    Ok(out)
}

fn short(json: &str) -> String {
    let one_line: String = json.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(80).collect()
}

/// Writes the PCF of `schema`, whose enclosing namespace is `ns` ("" for none).
fn write_schema(schema: &Value, ns: &str, out: &mut String) -> Result<(), String> {
    match schema {
        Value::String(name) => {
            if PRIMITIVES.contains(&name.as_str()) {
                write_str(name, out);
            } else {
                write_str(&fullname(name, ns), out);
            }
            Ok(())
        }
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_schema(branch, ns, out)?;
            }
            out.push(']');
            Ok(())
        }
        Value::Object(obj) => write_object(obj, ns, out),
        other => Err(format!(
            "a schema must be a string, an array or an object, not {other}"
        )),
    }
}

fn write_object(obj: &Map<String, Value>, ns: &str, out: &mut String) -> Result<(), String> {
    let ty = match obj.get("type") {
        Some(Value::String(ty)) => ty.as_str(),
        Some(other) => return Err(format!("\"type\" must be a string, not {other}")),
        None => return Err("an object schema needs \"type\"".into()),
    };
    match ty {
        // PRIMITIVES: also strips logicalType, so {"type":"long","logicalType":...} is "long".
        _ if PRIMITIVES.contains(&ty) => write_str(ty, out),
        "record" | "error" => {
            let (name, inner_ns) = named(obj, ns)?;
            out.push_str("{\"name\":");
            write_str(&name, out);
            out.push_str(",\"type\":");
            write_str(ty, out);
            out.push_str(",\"fields\":[");
            let fields = obj
                .get("fields")
                .and_then(Value::as_array)
                .ok_or("record needs \"fields\"")?;
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let field_name = field
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("field needs \"name\"")?;
                let field_type = field
                    .get("type")
                    .ok_or_else(|| format!("field {field_name} needs \"type\""))?;
                out.push_str("{\"name\":");
                write_str(field_name, out);
                out.push_str(",\"type\":");
                write_schema(field_type, &inner_ns, out)?;
                out.push('}');
            }
            out.push_str("]}");
        }
        "enum" => {
            let (name, _) = named(obj, ns)?;
            out.push_str("{\"name\":");
            write_str(&name, out);
            out.push_str(",\"type\":\"enum\",\"symbols\":[");
            let symbols = obj
                .get("symbols")
                .and_then(Value::as_array)
                .ok_or("enum needs \"symbols\"")?;
            for (i, symbol) in symbols.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(symbol.as_str().ok_or("enum symbols must be strings")?, out);
            }
            out.push_str("]}");
        }
        "fixed" => {
            let (name, _) = named(obj, ns)?;
            let size = obj
                .get("size")
                .and_then(Value::as_u64)
                .ok_or("fixed needs an integer \"size\"")?;
            out.push_str("{\"name\":");
            write_str(&name, out);
            out.push_str(&format!(",\"type\":\"fixed\",\"size\":{size}}}"));
        }
        "array" => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write_schema(obj.get("items").ok_or("array needs \"items\"")?, ns, out)?;
            out.push('}');
        }
        "map" => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write_schema(obj.get("values").ok_or("map needs \"values\"")?, ns, out)?;
            out.push('}');
        }
        // {"type": "SomeNamedType"}: a reference written as an object.
        reference => write_str(&fullname(reference, ns), out),
    }
    Ok(())
}

/// Full name of a named type definition and the namespace its children inherit.
fn named(obj: &Map<String, Value>, ns: &str) -> Result<(String, String), String> {
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a named type needs \"name\"")?;
    let full = if name.contains('.') {
        name.to_owned()
    } else {
        match obj.get("namespace") {
            Some(Value::String(own)) => qualify(name, own),
            Some(Value::Null) => name.to_owned(),
            Some(other) => return Err(format!("\"namespace\" must be a string, not {other}")),
            None => qualify(name, ns),
        }
    };
    let inner = full
        .rsplit_once('.')
        .map(|(ns, _)| ns.to_owned())
        .unwrap_or_default();
    Ok((full, inner))
}

fn fullname(name: &str, ns: &str) -> String {
    if name.contains('.') {
        name.to_owned()
    } else {
        qualify(name, ns)
    }
}

fn qualify(name: &str, ns: &str) -> String {
    if ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    }
}

/// STRINGS: serde_json escapes only `"`, `\` and control characters, writing the rest as UTF-8.
fn write_str(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a str always serializes"));
}
