//! `trestle-engine`: serves AI requests from the log, exactly once per outcome.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Consumes submitted AI requests, calls providers, publishes outcomes and usage.
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
    let config: trestle_engine::EngineConfig =
        trestle_config::load(args.config.as_deref()).context("loading configuration")?;
    trestle_telemetry::init("engine", &config.telemetry).context("starting telemetry")?;
    tracing::info!(message = "Engine starting.", group = %config.group_id, brokers = %config.kafka.bootstrap_servers);
    trestle_engine::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
