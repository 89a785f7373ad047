//! `trestle-admin project ...`: the cloud-project pool. `list` reads it (`trestle-query`);
//! `maintenance` and `limit` are operator decisions, so they go on the log as events
//! (`CloudProjectMaintenanceSet`, `CloudProjectLimitSet` on `cloud-projects`) and the pool
//! projection folds them, like every other row of the pool (docs/tenancy.md).

use anyhow::Context;
use clap::Subcommand;
use trestle_events::{CloudProjectLimitSet, CloudProjectMaintenanceSet, Event, Meta};
use trestle_kafka::{EventProducer, KafkaOptions};
use trestle_query::pool;
use trestle_store::PostgresOptions;

use crate::AdminConfig;

/// Pool commands.
#[derive(Subcommand)]
pub enum ProjectCommand {
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

/// Runs a pool command.
pub async fn run(config: &AdminConfig, command: ProjectCommand) -> anyhow::Result<()> {
    match command {
        ProjectCommand::List => list(&config.control).await,
        ProjectCommand::Maintenance { project_id, state } => {
            let event = CloudProjectMaintenanceSet {
                meta: Meta::platform(),
                cloud_project_id: project_id.clone(),
                maintenance: state == "on",
            };
            publish(&config.kafka, event.into()).await?;
            println!("{project_id}: maintenance {state}");
            Ok(())
        }
        ProjectCommand::Limit {
            project_id,
            notebooks,
        } => {
            anyhow::ensure!(notebooks >= 0, "a notebook limit cannot be negative");
            let event = CloudProjectLimitSet {
                meta: Meta::platform(),
                cloud_project_id: project_id.clone(),
                notebook_limit: notebooks,
            };
            publish(&config.kafka, event.into()).await?;
            println!("{project_id}: notebook limit {notebooks}");
            Ok(())
        }
    }
}

/// Publishes an operator setting; the pool projector applies it once it reads it.
async fn publish(kafka: &KafkaOptions, event: Event) -> anyhow::Result<()> {
    let topic = kafka.topic(event.topic().name());
    let delivered = EventProducer::new(kafka)?
        .publish(&event)
        .await
        .with_context(|| format!("publishing {} to {topic}", event.name()))?;
    eprintln!(
        "published {} to {topic} (partition {}, offset {}); the pool projector applies it",
        event.name(),
        delivered.partition,
        delivered.offset
    );
    Ok(())
}

/// Prints every project with today's requests per provider.
async fn list(control: &PostgresOptions) -> anyhow::Result<()> {
    let db = trestle_store::connect(control).await?;
    let today = pool::today();
    println!(
        "{:<24} {:<6} {:>10} {:>10} {:<12} requests today",
        "project", "region", "notebooks", "limit", "status"
    );
    for p in pool::projects(&db).await? {
        let requests = pool::requests_on(&db, &p.project_id, today)
            .await?
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
    Ok(())
}
