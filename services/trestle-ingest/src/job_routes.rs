//! Handlers of the job routes: a job's lifecycle and its documents become events on `jobs`
//! (202 once the broker acknowledged them), and a job's documents are read back, with their
//! sync state, from the company's shard database.
//!
//! Every route identifies the company like `POST /v1/ai-requests`: `company_id` in the body
//! (in the query string of the `GET`), refused with a 409 when it is not provisioned.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use trestle_events::Event;
use uuid::Uuid;

use crate::api::{body_invalid, log_unavailable, refusal, reject, AppState};
use crate::auth::{company_mismatch, Caller};
use crate::jobs::{
    check_id, AddDocument, CompleteJob, CreateJob, DocumentAccepted, Invalid, JobAccepted,
    JobCommand, JobDocumentsAnswer, ReopenJob, RequestNotebook,
};
use crate::shards::Located;

/// The answer to a refused body or path.
fn refuse(invalid: Invalid) -> Response {
    reject(invalid.status, invalid.reason, invalid.detail)
}

/// The job id of the path, checked.
fn job_id(path: Result<Path<String>, PathRejection>) -> Result<String, Invalid> {
    let Path(job_id) = path.map_err(|rejection| Invalid {
        status: rejection.status(),
        reason: "invalid_path",
        detail: rejection.body_text(),
    })?;
    check_id("job_id", &job_id)?;
    Ok(job_id)
}

/// The body of a route with the common limit.
fn body<T>(state: &AppState, body: Result<Json<T>, JsonRejection>) -> Result<T, Invalid> {
    body.map(|Json(b)| b).map_err(|rejection| {
        body_invalid(rejection, state.limits.max_body_bytes, " (max_body_bytes)")
    })
}

/// The 403 of a body naming another company than the caller's, or the 409 of a company that
/// is not provisioned (when ingest refuses those).
fn refused(state: &AppState, caller: &Caller, company: &Uuid) -> Option<Response> {
    company_mismatch(caller, company)
        .or_else(|| state.standings.as_ref().and_then(|s| refusal(s, company)))
}

/// Publishes `event` and answers 202 with `answer` once the broker acknowledged it.
async fn publish(state: &AppState, event: Event, answer: impl Serialize) -> Response {
    match state.producer.publish(&event).await {
        Ok(_) => {
            trestle_telemetry::event_published(event.name());
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
        Err(error) => log_unavailable(event.name(), error),
    }
}

fn job_accepted(event: &Event, job_id: &str) -> JobAccepted {
    JobAccepted {
        job_id: job_id.to_owned(),
        event_id: event.meta().event_id,
        status: "accepted".into(),
    }
}

/// `POST /v1/jobs` → `JobCreated`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Json<CreateJob>, JsonRejection>,
) -> Response {
    let request = match body(&state, request) {
        Ok(r) => r,
        Err(invalid) => return refuse(invalid),
    };
    if let Err(invalid) = request.validate() {
        return refuse(invalid);
    }
    if let Some(refused) = refused(&state, &caller, &request.company_id) {
        return refused;
    }
    let job_id = request.job_id.clone();
    let event = request.into_event();
    let answer = job_accepted(&event, &job_id);
    publish(&state, event, answer).await
}

/// `POST /v1/jobs/{job_id}/complete` → `JobCompleted`.
pub(crate) async fn complete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    request: Result<Json<CompleteJob>, JsonRejection>,
) -> Response {
    job_command(&state, &caller, path, request).await
}

/// `POST /v1/jobs/{job_id}/reopen` → `JobReopened`.
pub(crate) async fn reopen(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    request: Result<Json<ReopenJob>, JsonRejection>,
) -> Response {
    job_command(&state, &caller, path, request).await
}

/// `POST /v1/jobs/{job_id}/notebook` → `JobNotebookRequested`: a warm or cold job's notebook is
/// created again (a job that has one of its own is passed over by the workflow).
pub(crate) async fn request_notebook(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    request: Result<Json<RequestNotebook>, JsonRejection>,
) -> Response {
    job_command(&state, &caller, path, request).await
}

/// A route on an existing job: path and body checked, the company provisioned, its event
/// published.
async fn job_command<T: JobCommand>(
    state: &AppState,
    caller: &Caller,
    path: Result<Path<String>, PathRejection>,
    request: Result<Json<T>, JsonRejection>,
) -> Response {
    let (job_id, request) = match (job_id(path), body(state, request)) {
        (Ok(j), Ok(r)) => (j, r),
        (Err(invalid), _) | (_, Err(invalid)) => return refuse(invalid),
    };
    if let Err(invalid) = request.validate() {
        return refuse(invalid);
    }
    if let Some(refused) = refused(state, caller, request.company_id()) {
        return refused;
    }
    let answer_id = job_id.clone();
    let event = request.into_event(job_id);
    let answer = job_accepted(&event, &answer_id);
    publish(state, event, answer).await
}

/// `POST /v1/jobs/{job_id}/documents` → `DocumentAdded`, the text in the event.
pub(crate) async fn add_document(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    request: Result<Json<AddDocument>, JsonRejection>,
) -> Response {
    let limits = state.limits;
    let request = request.map(|Json(r)| r).map_err(|rejection| {
        let too_large = format!(
            " (a document's text may be at most {} bytes: max_document_text_bytes)",
            limits.document.max_text_bytes
        );
        body_invalid(rejection, limits.document_body_bytes, &too_large)
    });
    let (job_id, request) = match (job_id(path), request) {
        (Ok(j), Ok(r)) => (j, r),
        (Err(invalid), _) | (_, Err(invalid)) => return refuse(invalid),
    };
    if let Err(invalid) = request.validate(limits.document) {
        return refuse(invalid);
    }
    if let Some(refused) = refused(&state, &caller, &request.company_id) {
        return refused;
    }
    let event = request.into_event(job_id);
    let Event::DocumentAdded(added) = &event else {
        unreachable!("into_event builds a DocumentAdded")
    };
    let answer = DocumentAccepted {
        document_id: added.document_id.clone(),
        event_id: added.meta.event_id,
        status: "accepted".into(),
    };
    publish(&state, event, answer).await
}

/// The query string of `GET /v1/jobs/{job_id}/documents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompanyQuery {
    company_id: Uuid,
}

/// `GET /v1/jobs/{job_id}/documents?company_id=…`: the job's documents and their sync state,
/// from the company's shard (as the company: row-level security).
pub(crate) async fn documents(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<CompanyQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).map_err(|rejection| Invalid {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        reason: "invalid_field",
        detail: format!(
            "company_id must be given in the query string as a UUID (?company_id=…): {}",
            rejection.body_text()
        ),
    });
    let (job_id, company) = match (job_id(path), query) {
        (Ok(j), Ok(q)) => (j, q.company_id),
        (Err(invalid), _) | (_, Err(invalid)) => return refuse(invalid),
    };
    if !caller.is_for(&company) {
        // Another company's job: answered like a job that does not exist (nothing leaked).
        return job_not_found(&company, &job_id);
    }
    if let Some(refused) = refused(&state, &caller, &company) {
        return refused;
    }
    let Some(shards) = &state.shards else {
        return reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "shards_not_configured",
            "this ingest reads job documents from the companies' shard databases and has none: list them in its configuration as [[shards]] (url of each, in shard order, like trestle-admin's)".into(),
        );
    };
    let pool = match shards.locate(&company) {
        Located::Shard(pool) => pool,
        Located::NotProvisioned => {
            return refusal(shards.standings(), &company).unwrap_or_else(|| {
                reject(
                    StatusCode::CONFLICT,
                    "company_not_provisioned",
                    format!("company {company} has no database shard yet: retry in a moment"),
                )
            })
        }
        Located::NotConfigured { shard, configured } => {
            tracing::warn!(
                message = "A company lives in a shard ingest's [[shards]] does not list; answering 503.",
                %company, shard, configured
            );
            return reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "shard_not_configured",
                format!("company {company} lives in database shard {shard}, and this ingest's [[shards]] lists {configured}: add it"),
            );
        }
    };
    match trestle_query::documents::for_job(pool, company, &job_id).await {
        Ok(Some(read)) => (StatusCode::OK, Json(JobDocumentsAnswer::from(read))).into_response(),
        Ok(None) => job_not_found(&company, &job_id),
        Err(error) => {
            tracing::warn!(message = "Could not read a job's documents; answering 503.", %company, %error);
            reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "shard_unavailable",
                format!("the documents of company {company} could not be read from its shard, retry later: {error}"),
            )
        }
    }
}

/// The 404 of a job the company has neither documents nor a row of (or that is not the
/// caller's company's: the same answer).
fn job_not_found(company: &Uuid, job_id: &str) -> Response {
    reject(
        StatusCode::NOT_FOUND,
        "job_not_found",
        format!("company {company} has no job {job_id:?} with documents (a job created a moment ago is recorded by the notebook workflow shortly after its 202: retry then)"),
    )
}
