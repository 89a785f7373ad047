//! `trestle-ingest`: the HTTP edge where upstream apps submit AI requests.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Accepts AI requests over HTTP and publishes them to Kafka.
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
    let config: trestle_ingest::IngestConfig =
        trestle_config::load(args.config.as_deref()).context("loading configuration")?;
    trestle_telemetry::init("ingest", &config.telemetry).context("starting telemetry")?;
    let listener = tokio::net::TcpListener::bind(&config.http.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.http.listen_addr))?;
    tracing::info!(message = "Ingest listening.", addr = %config.http.listen_addr);
    trestle_ingest::serve(listener, &config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
