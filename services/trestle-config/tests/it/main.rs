//! Behaviour of the layered configuration loader.

use std::io::Write;

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Kafka {
    bootstrap_servers: String,
    session_timeout_ms: u64,
}

impl Default for Kafka {
    fn default() -> Self {
        Kafka {
            bootstrap_servers: "127.0.0.1:19092".into(),
            session_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct ServiceConfig {
    kafka: Kafka,
    workers: u32,
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

#[test]
fn runs_on_defaults_with_no_file_and_no_variables() {
    let cfg: ServiceConfig = trestle_config::load_from(None, env(&[])).unwrap();
    assert_eq!(cfg, ServiceConfig::default());
}

#[test]
fn file_overrides_defaults_and_environment_overrides_file() {
    let f = file("workers = 4\n[kafka]\nbootstrap_servers = \"file:1\"\nsession_timeout_ms = 7\n");
    let cfg: ServiceConfig = trestle_config::load_from(
        Some(f.path()),
        env(&[
            ("TRESTLE_KAFKA__BOOTSTRAP_SERVERS", "env:2"),
            ("TRESTLE_WORKERS", "9"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.kafka.bootstrap_servers, "env:2");
    assert_eq!(cfg.kafka.session_timeout_ms, 7);
    assert_eq!(cfg.workers, 9);
}

#[test]
fn unknown_key_in_file_is_rejected_with_its_name() {
    let f = file("[kafka]\nbootstrap_server = \"typo\"\n");
    let err = trestle_config::load_from::<ServiceConfig, _>(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bootstrap_server"), "{err}");
}

#[test]
fn bad_value_in_environment_names_the_key() {
    let err = trestle_config::load_from::<ServiceConfig, _>(
        None,
        env(&[("TRESTLE_KAFKA__SESSION_TIMEOUT_MS", "soon")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("kafka.session_timeout_ms"), "{err}");
    assert!(err.contains("environment variable"), "{err}");
}

#[test]
fn misspelt_nested_variable_is_rejected() {
    let err = trestle_config::load_from::<ServiceConfig, _>(
        None,
        env(&[("TRESTLE_KAFKA__BOOTSTRAP_SERVRS", "x")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("bootstrap_servrs"), "{err}");
}

#[test]
fn tooling_variables_are_not_configuration() {
    let cfg: ServiceConfig = trestle_config::load_from(
        None,
        env(&[
            ("TRESTLE_PYTHON", "/usr/bin/python3"),
            ("TRESTLE_KAFKA_PORT", "1"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg, ServiceConfig::default());
}

#[test]
fn missing_file_is_an_error_naming_the_path() {
    let err = trestle_config::load_from::<ServiceConfig, _>(
        Some(std::path::Path::new("/nonexistent/trestle.toml")),
        env(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/nonexistent/trestle.toml"), "{err}");
}
