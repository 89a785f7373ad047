//! `trestle-provider-sim`: serves simulated AI providers over HTTP.

use anyhow::Context;
use clap::Parser;

/// Simulated AI providers (OpenAI-compatible chat API) for local runs and tests.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_provider_sim::SimConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("provider-sim", &config.telemetry).context("starting telemetry")?;
    let listener = tokio::net::TcpListener::bind(&config.listen_addr)
        .await
        .with_context(|| {
            format!(
                "binding {} (is another simulator running?)",
                config.listen_addr
            )
        })?;
    tracing::info!(message = "Provider simulator listening.", addr = %config.listen_addr);
    trestle_provider_sim::serve(listener, &config, trestle_telemetry::shutdown_signal())
        .await
        .context("serving HTTP")
}
