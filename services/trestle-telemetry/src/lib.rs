//! Logging, metrics and the shutdown signal for every Trestle service process.
//!
//! **Architecture invariant:** every metric name is defined in [`names`] and recorded through a
//! typed function here, so names and label sets cannot drift between services. Labels are
//! bounded (event type, outcome, stage — never a company id).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub mod names;
mod record;
mod shutdown;
pub use record::*;
pub use shutdown::shutdown_signal;

/// Where a service exposes its metrics. Defaults: no exporter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryOptions {
    /// `host:port` for a Prometheus scrape endpoint (`/metrics`); empty = off.
    pub prometheus_listen_addr: String,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad prometheus_listen_addr {addr:?}: {reason}")]
    Listen { addr: String, reason: String },
}

/// Starts logging (`RUST_LOG`, default `info`) and, if configured, the Prometheus endpoint.
pub fn init(service: &'static str, options: &TelemetryOptions) -> Result<(), Error> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
    if !options.prometheus_listen_addr.is_empty() {
        let addr: SocketAddr =
            options
                .prometheus_listen_addr
                .parse()
                .map_err(|e: std::net::AddrParseError| Error::Listen {
                    addr: options.prometheus_listen_addr.clone(),
                    reason: e.to_string(),
                })?;
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .add_global_label("service", service)
            .install()
            .map_err(|e| Error::Listen {
                addr: options.prometheus_listen_addr.clone(),
                reason: e.to_string(),
            })?;
    }
    Ok(())
}
