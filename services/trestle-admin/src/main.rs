//! `trestle-admin`: operator commands — apply `topics.toml` to the broker, migrate the control
//! and shard databases.

mod price_book;

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
    /// Print a company's tenant routing (region, shard, cloud project, isolation, tier) from
    /// the control database.
    Route {
        /// The company id.
        company_id: uuid::Uuid,
    },
    /// The cloud-project pool: list it, or set a project's maintenance switch or notebook limit
    /// (operator settings the pool projection never overwrites).
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
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
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Every cloud project: notebooks against the limit, status, today's requests.
    List,
    /// Take a project out of (`on`) or back into (`off`) the pool for new notebooks.
    Maintenance {
        project_id: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Set a project's notebook limit.
    Limit { project_id: String, notebooks: i32 },
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
        Command::PriceBook { command } => price_book::run(&config.kafka, command).await?,
        Command::Migrate => {
            let control = &config.control;
            trestle_store::migrate_control(control)
                .await
                .with_context(|| {
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
        Command::Route { company_id } => {
            let pool = trestle_store::connect(&config.control).await?;
            let route = trestle_projector::routing::lookup(&pool, company_id)
                .await
                .context("reading tenant_routing")?
                .with_context(|| {
                    format!(
                        "no routing for company {company_id} (not registered or provisioned yet)"
                    )
                })?;
            let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            println!("company          {}", route.company_id);
            println!("name             {}", show(route.name));
            println!("tier             {}", show(route.tier));
            println!("region           {}", show(route.region));
            println!(
                "database_shard   {}",
                show(route.database_shard.map(|s| s.to_string()))
            );
            println!("cloud_project    {}", show(route.cloud_project_id));
            println!("isolation_level  {}", show(route.isolation_level));
            println!("kb_notebook      {}", show(route.kb_notebook_id));
            println!(
                "registered_at    {}",
                show(route.registered_at.map(|t| t.to_rfc3339()))
            );
            println!(
                "provisioned_at   {}",
                show(route.provisioned_at.map(|t| t.to_rfc3339()))
            );
        }
        Command::Project { command } => {
            use trestle_projector::pool;
            let db = trestle_store::connect(&config.control).await?;
            match command {
                ProjectCommand::List => {
                    let today = pool::today();
                    println!(
                        "{:<24} {:<6} {:>10} {:>10} {:<12} requests today",
                        "project", "region", "notebooks", "limit", "status"
                    );
                    for p in pool::projects(&db)
                        .await
                        .context("reading cloud_projects")?
                    {
                        let requests = pool::requests_on(&db, &p.project_id, today)
                            .await
                            .context("reading cloud_project_requests_daily")?
                            .into_iter()
                            .map(|(provider, n)| format!("{provider}={n}"))
                            .collect::<Vec<_>>()
                            .join(" ");
                        println!(
                            "{:<24} {:<6} {:>10} {:>10} {:<12} {}",
                            p.project_id,
                            p.region.unwrap_or_else(|| "-".into()),
                            p.notebook_count,
                            p.notebook_limit,
                            p.status,
                            requests
                        );
                    }
                }
                ProjectCommand::Maintenance { project_id, state } => {
                    pool::set_maintenance(&db, &project_id, state == "on")
                        .await
                        .context("setting maintenance")?;
                    println!("{project_id}: maintenance {state}");
                }
                ProjectCommand::Limit {
                    project_id,
                    notebooks,
                } => {
                    anyhow::ensure!(notebooks >= 0, "a notebook limit cannot be negative");
                    pool::set_limit(&db, &project_id, notebooks)
                        .await
                        .context("setting the notebook limit")?;
                    println!("{project_id}: notebook limit {notebooks}");
                }
            }
        }
        Command::ShardHealth { window_minutes } => {
            anyhow::ensure!(
                window_minutes.iter().all(|w| (1..=1440).contains(w)),
                "a window is 1 to 1440 minutes (minutes are kept for a day)"
            );
            let db = trestle_store::connect(&config.control).await?;
            let report =
                trestle_projector::health::report(&db, chrono::Utc::now(), &window_minutes)
                    .await
                    .context("reading shard_health_minutes")?;
            print!("{}", trestle_projector::health::render(&report));
        }
    }
    Ok(())
}
