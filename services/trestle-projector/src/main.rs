//! `trestle-projector`: folds usage events into `company_ai_usage`, exactly once.

use anyhow::Context;
use clap::Parser;

/// Projects the usage topic into PostgreSQL.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_projector::ProjectorConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("projector", &config.telemetry).context("starting telemetry")?;
    tracing::info!(message = "Usage projector starting.", group = %config.group_id);
    trestle_projector::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
