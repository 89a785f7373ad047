//! `trestle-load`: registers a mix of tenants, sends their AI requests through ingest, and
//! prints the engine's outcomes and the usage projection next to what was sent.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// Drives AI requests from a mix of tenants and checks the usage projection.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Number of companies.
    #[arg(long, default_value_t = 300)]
    companies: usize,
    /// Number of requests in total.
    #[arg(long, default_value_t = 3000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seed of the tenant mix.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Base URL of the ingest API.
    #[arg(long, default_value = "http://127.0.0.1:18000")]
    ingest_url: String,
    /// Kafka of the local stack (outcomes are read back, companies registered).
    #[arg(long, default_value = "127.0.0.1:19092")]
    kafka_bootstrap: String,
    /// Shard database holding the usage projection (application role).
    #[arg(
        long,
        default_value = "postgres://trestle_app:trestle_app@127.0.0.1:15432/trestle_shard_0"
    )]
    usage_db_url: String,
    /// How long to wait for the projection to catch up.
    #[arg(long, default_value_t = 180)]
    wait_secs: u64,
    /// Consumer groups that must have joined before requests are sent (the engine's and the
    /// usage projector's); empty to skip the wait.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "trestle-engine,trestle-projector-usage"
    )]
    wait_groups: Vec<String>,
    /// Company rows to print.
    #[arg(long, default_value_t = 20)]
    rows: usize,
    /// How companies are registered: `api` (the admin API, then waited for until onboarding
    /// has provisioned each) or `direct` (a CompanyRegistered each on the topic, no onboarding:
    /// the engine must serve unprovisioned companies as starters).
    #[arg(long, value_enum, default_value = "api")]
    register: Register,
    /// Base URL of ingest's admin listener (company registration).
    #[arg(long, default_value = "http://127.0.0.1:18001")]
    admin_url: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Register {
    Api,
    Direct,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tokens = load::Tokens::from_env()?;
    let mut scenario = load::Scenario::mixed(args.companies, args.requests, args.seed);
    let kafka = trestle_kafka::KafkaOptions {
        bootstrap_servers: args.kafka_bootstrap.clone(),
        ..Default::default()
    };
    let placed = match args.register {
        Register::Api => {
            eprintln!(
                "==> Registering {} companies through {}/v1/companies",
                args.companies, args.admin_url
            );
            load::register_via_api(&args.admin_url, &mut scenario, &tokens)
                .await
                .context("registering companies (is trestle-ingest's admin listener up?)")?;
            eprintln!("==> Waiting for onboarding to provision them");
            let wait = Duration::from_secs(args.wait_secs);
            Some(load::wait_provisioned(&kafka, &scenario, wait).await?)
        }
        Register::Direct => {
            eprintln!(
                "==> Registering {} companies on the tenants topic",
                args.companies
            );
            load::register_companies(&kafka, &scenario)
                .await
                .context("registering companies (is Kafka up? compose/stack up)")?;
            None
        }
    };
    if !args.wait_groups.is_empty() {
        eprintln!(
            "==> Waiting for consumer groups {} to join",
            args.wait_groups.join(", ")
        );
        load::wait_for_groups(&kafka, &args.wait_groups, Duration::from_secs(60))
            .context("waiting for the engine and projector to join their groups")?;
    }
    let from = load::outcomes_end(&kafka).context("reading where ai-outcomes ends")?;
    eprintln!(
        "==> Sending {} AI requests from {} companies to {}",
        args.requests, args.companies, args.ingest_url
    );
    let sent = load::drive(&args.ingest_url, &scenario, args.concurrency, &tokens)
        .await
        .context("sending requests (is trestle-ingest running?)")?;
    let options = trestle_store::PostgresOptions {
        url: args.usage_db_url.clone(),
        ..Default::default()
    };
    let pool = trestle_store::connect(&options).await?;
    let wait = Duration::from_secs(args.wait_secs);
    eprintln!("==> Waiting for the engine's outcomes");
    let accepted: u64 = sent.accepted.iter().sum();
    let outcomes = load::read_outcomes(&kafka, &scenario, &from, accepted, wait).await?;
    eprintln!("==> Waiting for the usage projection");
    let usage = load::wait_projected(&pool, &scenario, &outcomes, wait).await?;
    if let Some(placed) = &placed {
        load::print_placement(&scenario, placed);
    }
    let mismatched = load::print_report(&scenario, &sent, &outcomes, &usage, args.rows);
    if mismatched > 0 || sent.rejected > 0 {
        anyhow::bail!(
            "{mismatched} companies' outcomes or usage differ from what was sent, {} requests were rejected; see the service logs in .stack/demo/",
            sent.rejected
        );
    }
    Ok(())
}
