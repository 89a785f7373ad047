//! A simulator of external AI providers, so the engine talks real HTTP locally and in tests.
//!
//! It serves an OpenAI-compatible `POST /{provider}/v1/chat/completions` for any provider name
//! (`gemini-flash`, `notebooklm`, `openai`, …). Each provider's behaviour — latency, failure
//! rate, a forced outage, a rate limit answered with 429 and `Retry-After` — is set in config
//! or at run time with `PUT /admin/providers/{provider}`, so tests and the load generator can
//! drive every path of the engine.
//!
//! `POST /{provider}/v1/embeddings` is OpenAI-compatible too: deterministic hashed
//! bag-of-words vectors of [`EMBEDDING_DIMENSIONS`] floats (`embeddings.rs`), so a RAG test
//! finds the right chunk by nearest neighbour.
//!
//! Under `/projects/{project}/notebooks` it serves a NotebookLM-style notebook service per
//! cloud project (`notebooks.rs` holds the state and logic, `notebook_api.rs` the routes):
//! notebooks with caller-chosen ids (a retried create never makes a second), sources (a
//! document's text) and queries answered deterministically and extractively — the sentences
//! of the sources that best match the question, each cited with its source id, so a test can
//! tell which document an answer came from. Limits (notebooks per project, sources per
//! notebook, queries per day), creation latency, failure rate and outage are set per project
//! in config (`notebooks`, `notebook_projects`) or at run time with
//! `PUT /admin/projects/{project}/notebooks`; `GET /admin/notebooks` counts what each project
//! holds. Every refusal is decided before any state changes, so a caller's retry is safe.
//! See `docs/provider-sim.md`.

mod api;
mod behaviour;
mod embeddings;
mod notebook_api;
mod notebooks;
mod text;

pub use api::{router, ChatRequest, ChatResponse, Usage, MAX_REQUEST_BYTES};
pub use behaviour::{Behaviour, Simulator};
pub use embeddings::{
    embed, Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage,
    EMBEDDING_DIMENSIONS, MAX_EMBEDDING_INPUTS, MAX_EMBEDDING_INPUT_BYTES,
};
pub use notebook_api::{
    CreateNotebook, PutSource, QueryRequest, MAX_ID_BYTES, MAX_QUESTION_BYTES,
    MAX_SOURCE_TEXT_BYTES, MAX_TITLE_BYTES,
};
pub use notebooks::{
    Citation, Notebook, NotebookBehaviour, NotebookSources, NotebookState, ProjectCounts,
    QueryResponse, SourceInfo, ANSWER_SENTENCES, NO_ANSWER,
};

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
    /// Behaviour of the notebook service in cloud projects without an entry in
    /// `notebook_projects`.
    pub notebooks: NotebookBehaviour,
    /// Per-project notebook behaviour, by cloud project.
    pub notebook_projects: BTreeMap<String, NotebookBehaviour>,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen_addr: "127.0.0.1:18080".into(),
            default: Behaviour::default(),
            providers: BTreeMap::new(),
            notebooks: NotebookBehaviour::default(),
            notebook_projects: BTreeMap::new(),
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
    let sim = Simulator::with_notebooks(
        config.default.clone(),
        config.providers.clone(),
        config.notebooks.clone(),
        config.notebook_projects.clone(),
    );
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}
