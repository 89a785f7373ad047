//! `trestle-ingest`: the HTTP edge where upstream apps submit AI requests (and operators
//! register companies, on the admin listener).

use anyhow::Context;
use clap::Parser;

/// Accepts AI requests (and, on the admin listener, company registrations) over HTTP and
/// publishes them to Kafka.
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
    let listeners = trestle_ingest::Listeners::bind(&config)
        .await
        .context("binding the listeners")?;
    tracing::info!(
        message = "Ingest listening.",
        addr = %config.http.listen_addr,
        admin_addr = %config.admin_http.listen_addr
    );
    trestle_ingest::serve(listeners, &config, trestle_telemetry::shutdown_signal())
        .await
        .context("serving the ingest API")
}
