//! Embeds every schema under `<repo>/schemas` into the crate: generates
//! `$OUT_DIR/schemas.rs`, a table of `SchemaFile`s whose JSON is `include_str!`ed,
//! so the binary carries the exact files and a schema change rebuilds the crate.
//!
//! Layout (see `schemas/README.md`):
//! - `schemas/<topic>/<EventName>.avsc` — the current version of each event;
//! - `schemas/history/<topic>/<EventName>.v<N>.avsc` — earlier versions, numbered from 1
//!   without gaps; the current version is one more than the newest in history;
//! - `schemas/fixtures/` — test fixtures, not embedded.

use std::{
    collections::BTreeMap,
    env, fs,
    path::{Path, PathBuf},
};

struct Found {
    topic: String,
    name: String,
    version: u32,
    current: bool,
    rel: String,
    abs: PathBuf,
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../../schemas");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut found = find_schemas(&root);
    number_versions(&mut found);
    write_table(&found);
}

/// Every `.avsc` under `root`: current schemas and history files (fixtures skipped).
fn find_schemas(root: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for topic_dir in sorted_dirs(root) {
        let topic = file_name(&topic_dir);
        match topic.as_str() {
            "fixtures" => continue,
            "history" => {
                for hist_topic in sorted_dirs(&topic_dir) {
                    let topic = file_name(&hist_topic);
                    for file in sorted_files(&hist_topic, ".avsc") {
                        let stem = file_name(&file);
                        let stem = stem.trim_end_matches(".avsc");
                        let (name, version) = stem
                            .rsplit_once(".v")
                            .and_then(|(n, v)| Some((n, v.parse::<u32>().ok()?)))
                            .unwrap_or_else(|| {
                                panic!(
                                    "{}: history files are named <EventName>.v<N>.avsc",
                                    file.display()
                                )
                            });
                        found.push(Found {
                            rel: format!("history/{topic}/{stem}.avsc"),
                            topic: topic.clone(),
                            name: name.to_owned(),
                            version,
                            current: false,
                            abs: file,
                        });
                    }
                }
            }
            _ => {
                for file in sorted_files(&topic_dir, ".avsc") {
                    let name = file_name(&file).trim_end_matches(".avsc").to_owned();
                    assert!(
                        !name.contains('.'),
                        "{}: current schemas are named <EventName>.avsc",
                        file.display()
                    );
                    found.push(Found {
                        rel: format!("{topic}/{name}.avsc"),
                        topic: topic.clone(),
                        name,
                        version: 0, // assigned below
                        current: true,
                        abs: file,
                    });
                }
            }
        }
    }
    found
}

/// Numbers the current versions (one past their history) and checks the history is
/// consistent: numbered without gaps, under the same topic, never orphaned.
fn number_versions(found: &mut [Found]) {
    let mut history: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for f in found.iter().filter(|f| !f.current) {
        history
            .entry(f.name.clone())
            .or_default()
            .push((f.version, f.topic.clone()));
    }
    let mut currents: BTreeMap<String, String> = BTreeMap::new();
    for f in found.iter_mut().filter(|f| f.current) {
        if let Some(other) = currents.insert(f.name.clone(), f.topic.clone()) {
            panic!(
                "event {} has a current schema under both {other}/ and {}/",
                f.name, f.topic
            );
        }
        let mut versions = history.remove(&f.name).unwrap_or_default();
        versions.sort();
        for (i, (v, topic)) in versions.iter().enumerate() {
            assert_eq!(
                *v as usize,
                i + 1,
                "history of {} must be numbered v1..vN without gaps",
                f.name
            );
            assert_eq!(
                topic, &f.topic,
                "history of {} is under {topic}/, current under {}/",
                f.name, f.topic
            );
        }
        f.version = versions.len() as u32 + 1;
    }
    if let Some(orphan) = history.keys().next() {
        panic!(
            "schemas/history has {orphan} but there is no current schemas/<topic>/{orphan}.avsc"
        );
    }
}

/// Writes `$OUT_DIR/schemas.rs`, the table of embedded schema files.
fn write_table(found: &[Found]) {
    let mut out = String::from(
        "// @generated by build.rs from the files under schemas/. Do not edit.\n\
         pub(crate) static SCHEMA_FILES: &[SchemaFile] = &[\n",
    );
    for f in found {
        out.push_str(&format!(
            "    SchemaFile {{ topic: {:?}, name: {:?}, version: {}, current: {}, path: {:?}, json: include_str!({:?}) }},\n",
            f.topic,
            f.name,
            f.version,
            f.current,
            f.rel,
            f.abs.canonicalize().expect("canonical schema path").display().to_string(),
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("schemas.rs");
    fs::write(&dest, out).expect("write schemas.rs");
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn sorted_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && file_name(p).ends_with(ext))
        .collect();
    v.sort();
    v
}
