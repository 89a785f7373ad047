//! A simulator of external AI providers, so the engine talks real HTTP locally and in tests.
//!
//! It serves an OpenAI-compatible `POST /{provider}/v1/chat/completions` for any provider name
//! (`gemini-flash`, `notebooklm`, `openai`, …). Each provider's behaviour — latency, failure
//! rate, a forced outage, a rate limit answered with 429 and `Retry-After` — is set in config
//! or at run time with `PUT /admin/providers/{provider}`, so tests and the load generator can
//! drive every path of the engine.

mod api;
mod behaviour;

pub use api::{router, ChatRequest, ChatResponse};
pub use behaviour::{Behaviour, Simulator};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Configuration of the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Where to listen.
    pub listen_addr: String,
    /// Behaviour of providers without an entry in `providers`.
    pub default: Behaviour,
    /// Per-provider behaviour, by provider name.
    pub providers: BTreeMap<String, Behaviour>,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen_addr: "127.0.0.1:18080".into(),
            default: Behaviour::default(),
            providers: BTreeMap::new(),
            telemetry: Default::default(),
        }
    }
}

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: &SimConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sim = Simulator::new(config.default.clone(), config.providers.clone());
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}
