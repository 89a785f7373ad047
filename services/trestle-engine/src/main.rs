//! `trestle-engine`: serves AI requests from the log, exactly once per outcome.

use anyhow::Context;
use clap::Parser;

/// Consumes submitted AI requests, calls providers, publishes outcomes and usage.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_engine::EngineConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("engine", &config.telemetry).context("starting telemetry")?;
    tracing::info!(message = "Engine starting.", group = %config.group_id, brokers = %config.kafka.bootstrap_servers);
    trestle_engine::run(config, trestle_telemetry::shutdown_signal()).await?;
    Ok(())
}
