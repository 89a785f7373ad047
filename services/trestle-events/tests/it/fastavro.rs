//! Independent implementation: fastavro (Python) must agree with us on canonical forms,
//! fingerprints and bytes, both ways. See `tests/fastavro_check.py`.

use std::path::PathBuf;
use std::process::Command;

use trestle_events::{decode, encode, registry, Event};

use crate::{repo_root, samples, schemas_dir};

const HINT: &str = "run `compose/stack install` (it creates .stack/venv with fastavro==1.13.1), or set TRESTLE_PYTHON to a Python that has fastavro";

/// `$TRESTLE_PYTHON`, else `<repo>/.stack/venv/bin/python`; fails (never skips) when absent.
fn python() -> PathBuf {
    let python = std::env::var_os("TRESTLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".stack/venv/bin/python"));
    assert!(python.exists(), "no Python at {}: {HINT}", python.display());
    let probe = Command::new(&python)
        .args(["-c", "import fastavro; print(fastavro.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}: {HINT}", python.display()));
    assert!(
        probe.status.success(),
        "{} cannot import fastavro ({}): {HINT}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    python
}

/// The JSON serde writes for the event's own struct (no `type` tag).
fn expected_json(event: &Event) -> serde_json::Value {
    let mut json = serde_json::to_value(event).unwrap();
    json.as_object_mut().unwrap().remove("type");
    json
}

#[test]
fn fastavro_agrees_on_canonical_form_fingerprints_and_bytes() {
    let python = python();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("ours")).unwrap();

    let events = samples::all();
    let mut sample_entries = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let file = format!("ours/{i:03}_{}.bin", event.name());
        std::fs::write(work.path().join(&file), encode(event).unwrap()).unwrap();
        sample_entries.push(serde_json::json!({
            "name": event.name(),
            "file": file,
            "expected": expected_json(event),
        }));
    }
    let schemas: Vec<_> = registry()
        .iter()
        .map(|v| {
            serde_json::json!({
                "name": v.name(),
                "version": v.version(),
                "current": v.is_current(),
                "path": v.path(),
                "canonical_form": v.canonical_form(),
                "fingerprint": v.fingerprint().to_string(),
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemas_dir": schemas_dir(),
        "schemas": schemas,
        "samples": sample_entries,
    });
    let manifest_path = work.path().join("manifest.json");
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fastavro_check.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&manifest_path)
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fastavro disagrees:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");

    // fastavro's own single-object bytes, with every schema version, decode with our code.
    let theirs: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(work.path().join("theirs.json")).unwrap()).unwrap();
    let total_versions = registry().iter().count();
    assert!(
        theirs.len() >= events.len(),
        "fastavro wrote {} records",
        theirs.len()
    );
    let mut versions_seen = std::collections::BTreeSet::new();
    for entry in theirs {
        let sample = &events[entry["sample"].as_u64().unwrap() as usize];
        let version = entry["version"].as_u64().unwrap() as u32;
        let bytes = std::fs::read(work.path().join(entry["file"].as_str().unwrap())).unwrap();
        let decoded =
            decode(&bytes).unwrap_or_else(|e| panic!("fastavro's {}: {e:?}", entry["file"]));
        let current = registry().current(sample.name()).unwrap().version();
        if version == current {
            assert_eq!(&decoded, sample, "fastavro's {}", entry["file"]);
        } else {
            assert_eq!(decoded.name(), sample.name());
            assert_eq!(
                decoded.meta(),
                sample.meta(),
                "fastavro's {}",
                entry["file"]
            );
        }
        versions_seen.insert((sample.name(), version));
    }
    assert_eq!(
        versions_seen.len(),
        total_versions,
        "every schema version was written by fastavro"
    );
}
