//! Layered configuration for every Trestle service: built-in defaults, then an optional TOML
//! file, then `TRESTLE_*` environment variables.
//!
//! Every service runs with no configuration at all: its `Default` matches the local stack that
//! `compose/stack up` starts. A TOML file (`--config path` or `TRESTLE_CONFIG`) overrides the
//! defaults, and environment variables override the file. Nested keys use a double underscore:
//! `TRESTLE_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092` sets `kafka.bootstrap_servers`.
//!
//! Config structs use `#[serde(deny_unknown_fields)]`, so a misspelt key in the file or in a
//! nested variable stops start-up with a message naming the key. Single-level `TRESTLE_FOO`
//! variables that name no top-level key are left alone: they belong to tooling
//! (`TRESTLE_PYTHON`, `TRESTLE_CONFIG`, the stack script's port overrides).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "TRESTLE_";

/// The variable naming a configuration file when `--config` is not given.
pub const CONFIG_FILE_ENV: &str = "TRESTLE_CONFIG";

/// The `--config FILE` option every service binary takes (flatten it into the binary's args).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArg {
    /// TOML configuration file; built-in defaults match the local stack, and TRESTLE_*
    /// environment variables (nested keys joined with `__`) override the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// Loads `T` from defaults, this file (or `TRESTLE_CONFIG`) and the environment.
    pub fn load<T>(&self) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Default,
    {
        load(self.config.as_deref())
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named configuration file does not exist.
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    /// A key has a bad value or is unknown; the message names the key and where it came from.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Loads `T` from its defaults, the optional file (or `TRESTLE_CONFIG`), and the environment.
pub fn load<T>(file: Option<&Path>) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned + Default,
{
    let env_file = std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from);
    let file = file.map(Path::to_path_buf).or(env_file);
    load_from(file.as_deref(), std::env::vars())
}

/// Like [`load`], with the environment given explicitly (for tests and embedding).
pub fn load_from<T, I>(file: Option<&Path>, env: I) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned + Default,
    I: IntoIterator<Item = (String, String)>,
{
    let defaults = T::default();
    let top_level = top_level_keys(&defaults);
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = file {
        if !path.exists() {
            return Err(Error::MissingFile {
                path: path.to_path_buf(),
            });
        }
        figment = figment.merge(Toml::file(path));
    }
    let vars = EnvVars::select(env, &top_level);
    figment = figment.merge(vars);
    figment.extract().map_err(|e| Error::Invalid(describe(e)))
}

/// `TRESTLE_*` variables as a figment provider: `A__B` nests, values parse like TOML scalars.
struct EnvVars(Vec<(String, String)>);

impl EnvVars {
    fn select<I>(env: I, top_level: &BTreeSet<String>) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let vars = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k != CONFIG_FILE_ENV)
            .map(|(k, v)| (k[ENV_PREFIX.len()..].to_ascii_lowercase(), v))
            .filter(|(k, _)| k.contains("__") || top_level.contains(k))
            .collect();
        EnvVars(vars)
    }
}

impl figment::Provider for EnvVars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable")
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (key, raw) in &self.0 {
            let value: Value = raw
                .parse()
                .expect("figment's Value::from_str is infallible");
            let path: Vec<&str> = key.split("__").collect();
            insert(&mut root, &path, value);
        }
        Ok(figment::Profile::Default.collect(root))
    }
}

fn insert(dict: &mut Dict, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert((*last).to_string(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry((*first).to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            } else {
                let mut inner = Dict::new();
                insert(&mut inner, rest, value);
                *entry = Value::from(inner);
            }
        }
    }
}

fn top_level_keys<T: Serialize>(value: &T) -> BTreeSet<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("key `{}`: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(src) => format!(" (from {} {src})", m.name),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
