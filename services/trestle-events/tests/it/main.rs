//! Integration tests of the event contract: one binary, one module per concern.

mod compat;
mod contract;
mod errors;
mod fastavro;
mod keys;
mod roundtrip;
mod samples;
mod single_object;

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// `<repo>/schemas`.
pub fn schemas_dir() -> PathBuf {
    repo_root().join("schemas")
}
