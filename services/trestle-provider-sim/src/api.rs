//! The HTTP surface: an OpenAI-compatible chat endpoint per provider, plus admin routes.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::behaviour::{Behaviour, Simulator, Verdict};

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
    Router::new()
        .route("/{provider}/v1/chat/completions", post(chat))
        .route(
            "/admin/providers/{provider}",
            put(set_behaviour).get(get_behaviour),
        )
        .route("/admin/calls", get(calls))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(sim)
}

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"type": kind, "message": message}})),
    )
        .into_response()
}

async fn chat(
    State(sim): State<Simulator>,
    Path(provider): Path<String>,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                e.body_text(),
            )
        }
    };
    match sim.decide(&provider) {
        Verdict::RateLimited { retry_after } => {
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                format!("{provider}: rate limit reached"),
            );
            let secs = retry_after.as_secs().max(1).to_string();
            resp.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&secs).expect("digits are a valid header value"),
            );
            resp
        }
        Verdict::Fail { after } => {
            tokio::time::sleep(after).await;
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                format!("{provider}: simulated failure"),
            )
        }
        Verdict::Answer { after } => {
            tokio::time::sleep(after).await;
            Json(answer(&provider, request)).into_response()
        }
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
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            e.body_text(),
        ),
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
