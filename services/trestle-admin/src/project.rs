//! `trestle-admin project ...`: the cloud-project pool. `list` reads it (`trestle-query`),
//! `quotas` compares its daily provider quotas with the engines' live counters (`quotas.rs`);
//! `add`, `maintenance` and `limit` are operator decisions, so they go on the log as events
//! (`CloudProjectRegistered`, `CloudProjectMaintenanceSet`, `CloudProjectLimitSet` on
//! `cloud-projects`) and the pool projection folds them, like every other row of the pool
//! (docs/tenancy.md).

use clap::Subcommand;
use trestle_events::{
    CloudProjectLimitSet, CloudProjectMaintenanceSet, CloudProjectRegistered, Event, Meta, Region,
};
use trestle_kafka::KafkaOptions;
use trestle_query::pool;
use trestle_store::PostgresOptions;
use uuid::Uuid;

use crate::AdminConfig;

/// The notebook limit of a project added without `--limit` (the pool's default).
const DEFAULT_NOTEBOOK_LIMIT: i32 = 50_000;

/// Pool commands.
#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Every cloud project: notebooks against the limit, status, today's requests.
    List,
    /// Add a cloud project to the pool (or register it again with new settings): its region,
    /// notebook limit and, for a project of one dedicated enterprise company, that company.
    Add {
        project_id: String,
        /// Region the project serves.
        #[arg(long, value_parser = ["us", "eu", "apac"])]
        region: String,
        /// Most notebooks it may hold.
        #[arg(long, default_value_t = DEFAULT_NOTEBOOK_LIMIT)]
        limit: i32,
        /// The enterprise company (registered with isolation dedicated) the project belongs to.
        #[arg(long, value_name = "COMPANY_ID")]
        dedicated_to: Option<Uuid>,
    },
    /// Take a project out of (`on`) or back into (`off`) the pool for new notebooks.
    Maintenance {
        project_id: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Set a project's notebook limit.
    Limit { project_id: String, notebooks: i32 },
    /// Each project's daily provider quotas: the live counters the engines enforce (Redis)
    /// against the requests the pool projection counted from the log.
    Quotas {
        /// The UTC day, YYYY-MM-DD (default today).
        #[arg(long)]
        day: Option<chrono::NaiveDate>,
        /// Raise counters that are below the projection (Redis lost its data) to it.
        #[arg(long)]
        reconcile: bool,
    },
}

/// Runs a pool command.
pub async fn run(config: &AdminConfig, command: ProjectCommand) -> anyhow::Result<()> {
    match command {
        ProjectCommand::List => list(&config.control).await,
        ProjectCommand::Quotas { day, reconcile } => {
            crate::quotas::run(config, day, reconcile).await
        }
        ProjectCommand::Add {
            project_id,
            region,
            limit,
            dedicated_to,
        } => add(&config.kafka, project_id, &region, limit, dedicated_to).await,
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

/// Publishes `CloudProjectRegistered`.
async fn add(
    kafka: &KafkaOptions,
    project_id: String,
    region: &str,
    limit: i32,
    dedicated_to: Option<Uuid>,
) -> anyhow::Result<()> {
    anyhow::ensure!(limit >= 0, "a notebook limit cannot be negative");
    let region: Region = region.parse()?;
    let event = CloudProjectRegistered {
        meta: Meta::platform(),
        cloud_project_id: project_id.clone(),
        region,
        notebook_limit: limit,
        dedicated_company_id: dedicated_to,
    };
    publish(kafka, event.into()).await?;
    match dedicated_to {
        Some(company) => {
            println!(
                "{project_id}: region {region}, notebook limit {limit}, dedicated to {company}"
            )
        }
        None => println!("{project_id}: region {region}, notebook limit {limit}, shared"),
    }
    Ok(())
}

/// Publishes an operator decision about a project; the pool projector applies it once it
/// reads it.
async fn publish(kafka: &KafkaOptions, event: Event) -> anyhow::Result<()> {
    crate::publish(kafka, &event, "the pool projector applies it").await?;
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
