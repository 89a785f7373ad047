//! Routes of the ingest API and the mapping of every failure to a clear status.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use trestle_events::Event;
use trestle_kafka::EventProducer;

use crate::request::{SubmitAiRequest, Submitted};
use crate::standings::{Standing, Standings};

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    producer: EventProducer,
    /// Set: requests of companies that are not provisioned are refused (409).
    standings: Option<Standings>,
}

impl AppState {
    pub fn new(producer: EventProducer) -> Self {
        AppState {
            producer,
            standings: None,
        }
    }

    /// Refuses the requests of companies `standings` does not show provisioned.
    pub fn with_standings(mut self, standings: Option<Standings>) -> Self {
        self.standings = standings;
        self
    }
}

/// The 409 of a request whose company is not provisioned, naming its standing; `None` when it
/// may go ahead.
fn refusal(standings: &Standings, company: &uuid::Uuid) -> Option<Response> {
    let (reason, detail) = match standings.get(company) {
        Standing::Provisioned => return None,
        Standing::Registered => (
            "company_not_provisioned",
            format!("company {company} is registered, not provisioned yet: onboarding provisions it in a moment, retry then"),
        ),
        Standing::NotRegistered => (
            "company_not_registered",
            format!("company {company} is not registered: register it with POST /v1/companies on the admin listener"),
        ),
    };
    let mut response = reject(StatusCode::CONFLICT, reason, detail);
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    Some(response)
}

/// The ingest routes.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/ai-requests", post(submit_ai_request))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// A refusal: status plus a JSON body naming the problem.
pub(crate) fn reject(status: StatusCode, reason: &'static str, detail: String) -> Response {
    trestle_telemetry::http_rejected(reason);
    (status, Json(json!({"error": reason, "detail": detail}))).into_response()
}

/// The refusal of a body that is not JSON of the route's shape (unknown or mistyped fields).
pub(crate) fn reject_body(rejection: JsonRejection) -> Response {
    let reason = match &rejection {
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::JsonDataError(_) => "invalid_field",
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        _ => "unreadable_body",
    };
    reject(rejection.status(), reason, rejection.body_text())
}

/// The refusal of an event the log did not take: 503, retry later.
pub(crate) fn log_unavailable(what: &str, error: trestle_kafka::Error) -> Response {
    tracing::warn!(message = "Could not publish an event; answering 503.", what, %error);
    reject(
        StatusCode::SERVICE_UNAVAILABLE,
        "log_unavailable",
        format!("the {what} was not accepted, retry later: {error}"),
    )
}

async fn submit_ai_request(
    State(state): State<AppState>,
    body: Result<Json<SubmitAiRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(r)) => r,
        Err(rejection) => return reject_body(rejection),
    };
    if let Err((field, problem)) = request.validate() {
        return reject(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field} {problem}"),
        );
    }
    if let Some(refused) = (state.standings.as_ref()).and_then(|s| refusal(s, &request.company_id))
    {
        return refused;
    }
    let event = request.into_event();
    let Event::AiRequestSubmitted(submitted) = &event else {
        unreachable!("into_event builds an AiRequestSubmitted")
    };
    let answer = Submitted {
        request_id: submitted.request_id,
        event_id: submitted.meta.event_id,
        status: "accepted".into(),
    };
    match state.producer.publish(&event).await {
        Ok(_) => {
            trestle_telemetry::event_published(event.name());
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
        Err(error) => log_unavailable("request", error),
    }
}
