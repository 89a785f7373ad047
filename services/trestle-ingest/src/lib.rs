//! The HTTP edge of Trestle: upstream apps (in any language) submit AI requests here; each
//! accepted request is durably on the log as `AiRequestSubmitted` before the 202 is sent.
//!
//! **Architecture invariant:** ingest never answers 500 for bad input: a body that is not JSON,
//! has unknown fields or bad values gets a 4xx whose JSON names the problem; a log outage gets
//! 503 with a retry hint. Nothing is accepted that is not on the log.

mod api;
mod error;
mod request;

pub use api::{router, AppState};
pub use error::Error;
pub use request::{SubmitAiRequest, Submitted};

use serde::{Deserialize, Serialize};

/// Configuration of the ingest service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub http: HttpOptions,
    pub kafka: trestle_kafka::KafkaOptions,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOptions {
    pub listen_addr: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            listen_addr: "127.0.0.1:18000".into(),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Serves the ingest API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: &IngestConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let producer = trestle_kafka::EventProducer::new(&config.kafka)?;
    let state = AppState::new(producer);
    let addr = listener
        .local_addr()
        .map_or_else(|_| config.http.listen_addr.clone(), |a| a.to_string());
    axum::serve(listener, router(state, config.http.max_body_bytes))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Serve { addr, source })
}
