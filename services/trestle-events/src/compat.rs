//! FULL_TRANSITIVE compatibility: every version of an event's schema must read data written
//! with every other version, in both directions.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;

use crate::Error;

/// Checks that each pair of `versions` (number, schema JSON) of the event `event` is fully
/// compatible both ways: the writer's data can always be resolved by the reader, never only
/// "partially" (e.g. an enum symbol the reader lacks and no default).
pub fn check_full_transitive(event: &str, versions: &[(u32, &str)]) -> Result<(), Error> {
    let parsed = versions
        .iter()
        .map(|&(v, json)| {
            Schema::parse_str(json)
                .map(|s| (v, s))
                .map_err(|e| Error::Schema {
                    schema: format!("{event} v{v}"),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (writer_version, writer) in &parsed {
        for (reader_version, reader) in &parsed {
            if writer_version == reader_version {
                continue;
            }
            let incompatible = |reason: String| Error::Incompatible {
                event: event.to_owned(),
                writer_version: *writer_version,
                reader_version: *reader_version,
                reason,
            };
            match SchemaCompatibility::can_read(writer, reader) {
                Ok(Compatibility::Full) => {}
                Ok(Compatibility::Partial) => {
                    return Err(incompatible(
                        "only partially: some values cannot be resolved".into(),
                    ))
                }
                Err(e) => return Err(incompatible(e.to_string())),
            }
        }
    }
    Ok(())
}
