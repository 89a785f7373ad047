//! `trestle-admin`: the operator's commands, one module each — apply `topics.toml` to the
//! broker, migrate the databases, read routing, the pool and shard health (`trestle-query`),
//! publish operator decisions as events (company registrations, price books, cloud projects
//! and their settings, API keys), and move tenants between shards (`tenant move`, `shards rebalance`,
//! through `trestle_projector::moves`: the one place besides the projectors that writes a
//! projection's rows, from the log).
//!
//! The commands print for a person and fail with `anyhow` context: this library is the CLI's
//! body (main.rs only parses and dispatches), not an API other crates link.

pub mod company;
mod config;
pub mod keys;
pub mod migrate;
pub mod price_book;
pub mod project;
mod quotas;
pub mod rebalance;
pub mod route;
pub mod shard_health;
pub mod shards;
pub mod tenant;
pub mod topics;

use anyhow::Context;
use clap::{Parser, Subcommand};
use trestle_events::Event;
use trestle_kafka::{Delivered, EventProducer, KafkaOptions};

pub use config::AdminConfig;

/// Operator commands for a Trestle deployment.
#[derive(Parser)]
#[command(version)]
pub struct Args {
    #[command(flatten)]
    pub config: trestle_config::ConfigArg,
    #[command(subcommand)]
    pub command: Command,
}

/// One operator command.
#[derive(Subcommand)]
pub enum Command {
    /// Create missing topics and add partitions so the broker matches topics.toml.
    Topics {
        /// A topics file other than the one compiled in.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Apply the control migrations to the control database and the shard migrations to every
    /// configured shard database.
    Migrate,
    /// Print a company's tenant routing (region, shard, cloud project, isolation, tier) from
    /// the control database.
    Route {
        /// The company id.
        company_id: uuid::Uuid,
    },
    /// Register a company (published as `CompanyRegistered` on `tenants`), placed in the
    /// region its country has in the region table (`[regions]`).
    Company {
        #[command(subcommand)]
        command: company::CompanyCommand,
    },
    /// The cloud-project pool: list it, add a project, or set a project's maintenance switch or
    /// notebook limit (published as events on `cloud-projects`, which the pool projection
    /// folds).
    Project {
        #[command(subcommand)]
        command: project::ProjectCommand,
    },
    /// The versioned price book statements are priced from: publish a new version, or print
    /// the latest (docs/billing.md).
    PriceBook {
        #[command(subcommand)]
        command: price_book::PriceBookCommand,
    },
    /// Per database shard: companies, requests per minute, error rate, p50 and p99 provider
    /// latency over the last complete minutes (docs/shard-health.md).
    ShardHealth {
        /// Window lengths in minutes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "5,60")]
        window_minutes: Vec<u32>,
    },
    /// Move a company to another database shard by replaying its usage (docs/tenancy.md).
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// A company's API keys: issue one (printed once; `ApiKeyIssued`), or revoke one
    /// (`ApiKeyRevoked`); both also written to the control database's `api_keys`.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Rebalance companies across database shards: plan moves, or run them.
    Shards {
        #[command(subcommand)]
        command: shards::ShardsCommand,
    },
}

/// Runs one command.
pub async fn run(config: &AdminConfig, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Topics { file } => topics::run(&config.kafka, file.as_deref()).await,
        Command::Migrate => migrate::run(config).await,
        Command::Route { company_id } => route::run(&config.control, company_id).await,
        Command::Company { command } => company::run(config, command).await,
        Command::Project { command } => project::run(config, command).await,
        Command::PriceBook { command } => price_book::run(&config.kafka, command).await,
        Command::ShardHealth { window_minutes } => {
            shard_health::run(&config.control, &window_minutes).await
        }
        Command::Tenant { command } => tenant::run(config, command).await,
        Command::Keys { command } => keys::run(config, command).await,
        Command::Shards { command } => shards::run(config, command).await,
    }
}

/// Publishes an operator decision and says on stderr where it landed and what happens next
/// (`then`, e.g. "the pool projector applies it").
pub(crate) async fn publish(
    kafka: &KafkaOptions,
    event: &Event,
    then: &str,
) -> anyhow::Result<Delivered> {
    let topic = kafka.topic(event.topic().name());
    let delivered = EventProducer::new(kafka)?
        .publish(event)
        .await
        .with_context(|| format!("publishing {} to {topic}", event.name()))?;
    eprintln!(
        "published {} to {topic} (partition {}, offset {}); {then}",
        event.name(),
        delivered.partition,
        delivered.offset
    );
    Ok(delivered)
}
