//! The HTTP surface: OpenAI-compatible chat and embeddings endpoints per provider, the
//! notebook API (`notebook_api.rs`), and admin routes.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::behaviour::{Behaviour, Simulator, Verdict};
use crate::embeddings::{self, EmbeddingsRequest, MAX_EMBEDDING_INPUTS, MAX_EMBEDDING_INPUT_BYTES};
use crate::notebook_api;

/// Largest request body any route reads, in bytes; beyond it, 413. Room for a source text of
/// [`crate::MAX_SOURCE_TEXT_BYTES`] with JSON escaping.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// An OpenAI chat completion request (the fields the simulator reads).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// An OpenAI chat completion response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
}

/// One answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: ChatMessage,
    pub finish_reason: String,
}

/// Token counts of a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// The simulator's routes.
pub fn router(sim: Simulator) -> Router {
    let notebooks = notebook_api::router(sim.notebooks());
    Router::new()
        .route("/{provider}/v1/chat/completions", post(chat))
        .route("/{provider}/v1/embeddings", post(embed))
        .route(
            "/admin/providers/{provider}",
            put(set_behaviour).get(get_behaviour),
        )
        .route("/admin/calls", get(calls))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(sim)
        .merge(notebooks)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
}

/// An error answer: `{"error": {"type": kind, "message": message}}`.
pub(crate) fn error(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"type": kind, "message": message}})),
    )
        .into_response()
}

/// The answer to a body that is not the JSON a route expects: 400 (or 415 without a JSON
/// content type) with serde's reason, 413 beyond [`MAX_REQUEST_BYTES`].
pub(crate) fn bad_body(rejection: JsonRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("the request body is over {MAX_REQUEST_BYTES} bytes, the limit"),
        )
    } else {
        error(
            rejection.status(),
            "invalid_request_error",
            rejection.body_text(),
        )
    }
}

/// Adds `Retry-After` in whole seconds, rounded up, at least 1.
pub(crate) fn with_retry_after(mut resp: Response, retry_after: Duration) -> Response {
    let secs = retry_after
        .as_secs()
        .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
        .max(1)
        .to_string();
    resp.headers_mut().insert(
        "retry-after",
        HeaderValue::from_str(&secs).expect("digits are a valid header value"),
    );
    resp
}

/// Applies `provider`'s behaviour to one call: waits its latency, or answers its failure or
/// rate limit.
async fn admit(sim: &Simulator, provider: &str) -> Result<(), Response> {
    match sim.decide(provider) {
        Verdict::RateLimited { retry_after } => Err(with_retry_after(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                format!("{provider}: rate limit reached"),
            ),
            retry_after,
        )),
        Verdict::Fail { after } => {
            tokio::time::sleep(after).await;
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                format!("{provider}: simulated failure"),
            ))
        }
        Verdict::Answer { after } => {
            tokio::time::sleep(after).await;
            Ok(())
        }
    }
}

async fn chat(
    State(sim): State<Simulator>,
    Path(provider): Path<String>,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    match admit(&sim, &provider).await {
        Ok(()) => Json(answer(&provider, request)).into_response(),
        Err(resp) => resp,
    }
}

/// `POST /{provider}/v1/embeddings`: deterministic embeddings (`embeddings.rs`) under the
/// provider's behaviour, like chat.
async fn embed(
    State(sim): State<Simulator>,
    Path(provider): Path<String>,
    body: Result<Json<EmbeddingsRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let texts = request.input.into_texts();
    if texts.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "input is empty; give a text or a list of texts".into(),
        );
    }
    if texts.len() > MAX_EMBEDDING_INPUTS {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!(
                "input has {} texts; the limit is {MAX_EMBEDDING_INPUTS}",
                texts.len()
            ),
        );
    }
    for (i, text) in texts.iter().enumerate() {
        if text.trim().is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("input[{i}] is empty"),
            );
        }
        if text.len() > MAX_EMBEDDING_INPUT_BYTES {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!(
                    "input[{i}] is {} bytes; the limit is {MAX_EMBEDDING_INPUT_BYTES} bytes",
                    text.len()
                ),
            );
        }
    }
    match admit(&sim, &provider).await {
        Ok(()) => Json(embeddings::respond(request.model, &texts)).into_response(),
        Err(resp) => resp,
    }
}

fn answer(provider: &str, request: ChatRequest) -> ChatResponse {
    let question = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let prompt_tokens: u64 = request
        .messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u64)
        .sum();
    let short: String = question.chars().take(80).collect();
    let content = format!("[{provider}] Simulated answer to: {short}");
    let completion_tokens = content.split_whitespace().count() as u64;
    ChatResponse {
        id: format!("chatcmpl-{:016x}", fastrand::u64(..)),
        object: "chat.completion".into(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: request.model,
        choices: vec![Choice {
            index: 0,
            message: ChatMessage {
                role: "assistant".into(),
                content,
            },
            finish_reason: "stop".into(),
        }],
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        },
    }
}

async fn set_behaviour(
    State(sim): State<Simulator>,
    Path(provider): Path<String>,
    body: Result<Json<Behaviour>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(b)) if (0.0..=1.0).contains(&b.failure_rate) => {
            sim.set(&provider, b.clone());
            Json(b).into_response()
        }
        Ok(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            "failure_rate must be between 0.0 and 1.0".into(),
        ),
        Err(e) => bad_body(e),
    }
}

async fn get_behaviour(
    State(sim): State<Simulator>,
    Path(provider): Path<String>,
) -> Json<Behaviour> {
    Json(sim.behaviour(&provider))
}

async fn calls(State(sim): State<Simulator>) -> Json<BTreeMap<String, u64>> {
    Json(sim.calls())
}
