//! `trestle-onboarding`: places and provisions registered companies, exactly once each.

use anyhow::Context;
use clap::Parser;

/// Consumes `tenants`; provisions each registered company on a shard and a cloud project.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_onboarding::OnboardingConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("onboarding", &config.telemetry).context("starting telemetry")?;
    tracing::info!(message = "Onboarding starting.", group = %config.group_id, brokers = %config.kafka.bootstrap_servers);
    trestle_onboarding::run(config, trestle_telemetry::shutdown_signal())
        .await
        .context("running the onboarding workflow")?;
    Ok(())
}
