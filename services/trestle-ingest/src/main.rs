//! `trestle-ingest`: the HTTP edge where upstream apps submit AI requests.

use anyhow::Context;
use clap::Parser;

/// Accepts AI requests over HTTP and publishes them to Kafka.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_ingest::IngestConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("ingest", &config.telemetry).context("starting telemetry")?;
    let listener = tokio::net::TcpListener::bind(&config.http.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.http.listen_addr))?;
    tracing::info!(message = "Ingest listening.", addr = %config.http.listen_addr);
    trestle_ingest::serve(listener, &config, trestle_telemetry::shutdown_signal()).await
}
