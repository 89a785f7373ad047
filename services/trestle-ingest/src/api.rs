//! Routes of the ingest API and the mapping of every failure to a clear status.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use trestle_apikeys::Scope;
use trestle_events::Event;
use trestle_kafka::EventProducer;

use crate::auth::{company_mismatch, require, Authenticator, Caller};
use crate::job_routes;
use crate::jobs::{DocumentLimits, Invalid, ID_RULE};
use crate::problem::Problem;
use crate::request::{SubmitAiRequest, Submitted};
use crate::shards::ShardPools;
use crate::standings::{Standing, Standings};
use crate::HttpOptions;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) producer: EventProducer,
    /// Set: requests of companies that are not provisioned are refused (409).
    pub(crate) standings: Option<Standings>,
    /// Set: job documents are read from the companies' shards.
    pub(crate) shards: Option<ShardPools>,
    pub(crate) limits: Limits,
    pub(crate) auth: Authenticator,
}

/// The body limits of the routes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Every route's but the documents' (`[http] max_body_bytes`).
    pub max_body_bytes: usize,
    /// Of one document's text and pages.
    pub document: DocumentLimits,
    /// Of the body of `POST /v1/jobs/{job_id}/documents`: room for the largest text JSON
    /// escapes could double, so the text limit is what refuses a large document, by name.
    pub document_body_bytes: usize,
}

impl Limits {
    fn new(http: &HttpOptions) -> Self {
        let document = DocumentLimits {
            max_text_bytes: http.max_document_text_bytes,
            max_pages: http.max_document_pages,
        };
        let document_body_bytes = http
            .max_document_text_bytes
            .saturating_mul(2)
            .saturating_add(64 * 1024)
            .max(http.max_body_bytes);
        Limits {
            max_body_bytes: http.max_body_bytes,
            document,
            document_body_bytes,
        }
    }
}

impl AppState {
    /// The state of a router with the limits of `http`.
    pub fn new(producer: EventProducer, http: &HttpOptions, auth: Authenticator) -> Self {
        AppState {
            producer,
            auth,
            standings: None,
            shards: None,
            limits: Limits::new(http),
        }
    }

    /// Refuses the requests of companies `standings` does not show provisioned.
    pub fn with_standings(mut self, standings: Option<Standings>) -> Self {
        self.standings = standings;
        self
    }

    /// Reads job documents from `shards`; without, `GET /v1/jobs/{job_id}/documents` is 503.
    pub fn with_shards(mut self, shards: Option<ShardPools>) -> Self {
        self.shards = shards;
        self
    }
}

/// The 409 of a request whose company is not provisioned, naming its standing; `None` when it
/// may go ahead.
pub(crate) fn refusal(standings: &Standings, company: &uuid::Uuid) -> Option<Response> {
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

/// `route` behind the credential check and `scope` (401/403 before its body is read).
pub(crate) fn guarded<S: Clone + Send + Sync + 'static>(
    auth: &Authenticator,
    scope: Scope,
    route: MethodRouter<S>,
) -> MethodRouter<S> {
    route.route_layer(from_fn_with_state((auth.clone(), scope), require))
}

/// The ingest routes, each with its scope (docs/ingest.md); `/healthz` is open.
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    let auth = state.auth.clone();
    let jobs_write = |route| guarded(&auth, Scope::JobsWrite, route);
    Router::new()
        .route(
            "/v1/ai-requests",
            guarded(&auth, Scope::AiWrite, post(submit_ai_request)),
        )
        .route("/v1/jobs", jobs_write(post(job_routes::create)))
        .route(
            "/v1/jobs/{job_id}/complete",
            jobs_write(post(job_routes::complete)),
        )
        .route(
            "/v1/jobs/{job_id}/reopen",
            jobs_write(post(job_routes::reopen)),
        )
        .route(
            "/v1/jobs/{job_id}/notebook",
            jobs_write(post(job_routes::request_notebook)),
        )
        .route(
            "/v1/jobs/{job_id}/documents",
            jobs_write(
                post(job_routes::add_document)
                    .layer(DefaultBodyLimit::max(limits.document_body_bytes)),
            )
            .merge(guarded(&auth, Scope::JobsRead, get(job_routes::documents))),
        )
        .route("/healthz", get(|| async { "ok" }))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
}

/// The 404 of a path that is no route, naming it (a job id with a `/` makes one).
pub(crate) async fn no_route(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let hint = if path.starts_with("/v1/jobs/") {
        format!("; a job id is one path segment of {ID_RULE}")
    } else {
        String::new()
    };
    reject(
        StatusCode::NOT_FOUND,
        "no_such_route",
        format!("{method} {path} is not a route of this API{hint}"),
    )
}

/// The 405 of a route that does not take `method`.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    reject(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not take {method} (docs/api.md lists its methods)",
            uri.path()
        ),
    )
}

/// A refusal: status plus a problem+json body whose `code` is `reason` ([`Problem`]).
pub(crate) fn reject(status: StatusCode, reason: &'static str, detail: String) -> Response {
    trestle_telemetry::http_rejected(reason);
    Problem::new(status, reason, detail).into_response()
}

/// The refusal of a body that is not JSON of the route's shape (unknown or mistyped fields),
/// or is larger than `max_body_bytes` (413, `too_large` saying what the limit is for).
pub(crate) fn reject_body(
    rejection: JsonRejection,
    max_body_bytes: usize,
    too_large: &str,
) -> Response {
    let invalid = body_invalid(rejection, max_body_bytes, too_large);
    reject(invalid.status, invalid.reason, invalid.detail)
}

/// What [`reject_body`] answers.
pub(crate) fn body_invalid(
    rejection: JsonRejection,
    max_body_bytes: usize,
    too_large: &str,
) -> Invalid {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Invalid {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "body_too_large",
            detail: format!(
                "the request body is larger than the limit of {max_body_bytes} bytes{too_large}"
            ),
        };
    }
    let reason = match &rejection {
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::JsonDataError(_) => "invalid_field",
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        _ => "unreadable_body",
    };
    Invalid {
        status: rejection.status(),
        reason,
        detail: rejection.body_text(),
    }
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
    Extension(caller): Extension<Caller>,
    body: Result<Json<SubmitAiRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(r)) => r,
        Err(rejection) => {
            return reject_body(rejection, state.limits.max_body_bytes, " (max_body_bytes)")
        }
    };
    if let Err((field, problem)) = request.validate() {
        return reject(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field} {problem}"),
        );
    }
    if let Some(refused) = company_mismatch(&caller, &request.company_id) {
        return refused;
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
