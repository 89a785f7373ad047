//! `trestle-admin`: operator commands — apply `topics.toml` to the broker, migrate the control
//! and shard databases.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use trestle_kafka::topics::{self, Change};

/// Operator commands for a Trestle deployment.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create missing topics and add partitions so the broker matches topics.toml.
    Topics {
        /// A topics file other than the one compiled in.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Apply the control migrations to the control database and the shard migrations to every
    /// configured shard database.
    Migrate,
}

/// Configuration of the admin tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AdminConfig {
    kafka: trestle_kafka::KafkaOptions,
    /// The control database (platform-wide projections).
    control: trestle_store::PostgresOptions,
    /// Shard databases, in shard order.
    shards: Vec<trestle_store::PostgresOptions>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        let database = |name: &str| trestle_store::PostgresOptions {
            url: format!("postgres://trestle_app:trestle_app@127.0.0.1:15432/{name}"),
            owner_url: format!("postgres://trestle_owner:trestle_owner@127.0.0.1:15432/{name}"),
            ..Default::default()
        };
        AdminConfig {
            kafka: Default::default(),
            control: database("trestle_control"),
            shards: vec![database("trestle_shard_0"), database("trestle_shard_1")],
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: AdminConfig = args.config.load().context("loading configuration")?;
    match args.command {
        Command::Topics { file } => {
            let specs = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    topics::parse(&text)?
                }
                None => topics::builtin(),
            };
            let changes = topics::apply(&config.kafka, &specs)
                .await
                .context("applying topics.toml")?;
            for (name, change) in changes {
                let what = match change {
                    Change::Created { partitions } => format!("created, {partitions} partitions"),
                    Change::PartitionsAdded { from, to } => {
                        format!("partitions {from} -> {to}")
                    }
                    Change::Unchanged { partitions } => format!("up to date, {partitions} partitions"),
                    Change::CannotShrink { broker, file } => format!(
                        "WARNING: broker has {broker} partitions, file asks {file}; Kafka cannot remove partitions"
                    ),
                };
                println!("{name:<32} {what}");
            }
        }
        Command::Migrate => {
            let control = &config.control;
            trestle_store::migrate_control(control).await.with_context(|| {
                format!("migrating {}", trestle_store::redact(&control.owner_url))
            })?;
            println!("migrated {}", trestle_store::redact(&control.owner_url));
            for shard in &config.shards {
                trestle_store::migrate_shard(shard).await.with_context(|| {
                    format!("migrating {}", trestle_store::redact(&shard.owner_url))
                })?;
                println!("migrated {}", trestle_store::redact(&shard.owner_url));
            }
        }
    }
    Ok(())
}
