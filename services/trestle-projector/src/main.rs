//! `trestle-projector`: folds usage events into `company_ai_usage`, exactly once.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Projects the usage topic into PostgreSQL.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// TOML configuration file (defaults are built in; TRESTLE_* variables override).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_projector::ProjectorConfig =
        trestle_config::load(args.config.as_deref()).context("loading configuration")?;
    trestle_telemetry::init("projector", &config.telemetry).context("starting telemetry")?;
    tracing::info!(message = "Usage projector starting.", group = %config.group_id);
    trestle_projector::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
