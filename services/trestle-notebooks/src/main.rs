//! `trestle-notebooks`: gives each job its notebook and syncs its documents, exactly once each.

use anyhow::Context;
use clap::Parser;

/// Consumes `jobs`; creates job notebooks and syncs documents into them.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_notebooks::NotebooksConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("notebooks", &config.telemetry).context("starting telemetry")?;
    tracing::info!(message = "Notebook workflow starting.", group = %config.group_id, brokers = %config.kafka.bootstrap_servers);
    trestle_notebooks::run(config, trestle_telemetry::shutdown_signal())
        .await
        .context("running the notebook workflow")?;
    Ok(())
}
