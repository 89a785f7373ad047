//! The notebook API over HTTP: notebooks, sources and queries per cloud project, plus the
//! admin routes that set their behaviour and count what each project holds.
//!
//! Every handler checks its input first (400/413), then rolls the project's failure dice
//! (503), then acts — so a refused call has changed nothing and a retry is safe.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::{bad_body, error, with_retry_after};
use crate::notebooks::{self, NotebookBehaviour, Notebooks, Now, Refusal};

type Shared = Arc<Mutex<Notebooks>>;

/// Longest project, notebook or source id, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest notebook or source title, in bytes.
pub const MAX_TITLE_BYTES: usize = 1024;
/// Largest source text, in bytes (1 MiB).
pub const MAX_SOURCE_TEXT_BYTES: usize = 1024 * 1024;
/// Longest question, in bytes.
pub const MAX_QUESTION_BYTES: usize = 16 * 1024;
/// Most labels on a notebook.
const MAX_LABELS: usize = 64;

/// The body of `PUT /projects/{project}/notebooks/{notebook}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNotebook {
    pub title: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The body of `PUT /projects/{project}/notebooks/{notebook}/sources/{source}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSource {
    pub title: String,
    pub text: String,
}

/// The body of `POST /projects/{project}/notebooks/{notebook}/query`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub question: String,
    /// Answer only from these sources; absent = every source of the notebook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ids: Option<Vec<String>>,
}

/// The notebook routes (see `docs/provider-sim.md`).
pub(crate) fn router(notebooks: Shared) -> Router {
    Router::new()
        .route(
            "/projects/{project}/notebooks/{notebook}",
            put(create).get(read).delete(delete),
        )
        .route(
            "/projects/{project}/notebooks/{notebook}/sources",
            get(list_sources),
        )
        .route(
            "/projects/{project}/notebooks/{notebook}/sources/{source}",
            put(put_source).delete(delete_source),
        )
        .route(
            "/projects/{project}/notebooks/{notebook}/query",
            post(query),
        )
        .route(
            "/admin/projects/{project}/notebooks",
            put(set_behaviour).get(get_behaviour),
        )
        .route("/admin/notebooks", get(counts))
        .route("/admin/notebooks/{project}", get(listing))
        .with_state(notebooks)
}

fn lock(shared: &Shared) -> MutexGuard<'_, Notebooks> {
    shared.lock().expect("notebook state lock")
}

/// Input refused before anything happens: 400, or 413 naming the limit.
struct BadInput {
    status: StatusCode,
    message: String,
}

impl IntoResponse for BadInput {
    fn into_response(self) -> Response {
        let kind = if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            "request_too_large"
        } else {
            "invalid_request_error"
        };
        error(self.status, kind, self.message)
    }
}

fn invalid(message: String) -> BadInput {
    BadInput {
        status: StatusCode::BAD_REQUEST,
        message,
    }
}

fn too_large(what: &str, len: usize, limit: usize) -> BadInput {
    BadInput {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("{what} is {len} bytes; the limit is {limit} bytes"),
    }
}

/// Ids travel in paths and end up in test assertions and logs: non-empty, bounded, printable.
fn check_ids(ids: &[(&str, &str)]) -> Result<(), BadInput> {
    for (kind, id) in ids {
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(invalid(format!(
                "{kind} id must be 1 to {MAX_ID_BYTES} bytes, not {}",
                id.len()
            )));
        }
        if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(format!(
                "{kind} id {id:?} holds whitespace or a control character"
            )));
        }
    }
    Ok(())
}

fn check_title(title: &str) -> Result<(), BadInput> {
    if title.len() > MAX_TITLE_BYTES {
        return Err(too_large("title", title.len(), MAX_TITLE_BYTES));
    }
    Ok(())
}

fn check_create(project: &str, notebook: &str, body: &CreateNotebook) -> Result<(), BadInput> {
    check_ids(&[("project", project), ("notebook", notebook)])?;
    check_title(&body.title)?;
    if body.labels.len() > MAX_LABELS {
        return Err(invalid(format!(
            "{} labels; a notebook has at most {MAX_LABELS}",
            body.labels.len()
        )));
    }
    Ok(())
}

fn check_source(
    project: &str,
    notebook: &str,
    source: &str,
    body: &PutSource,
) -> Result<(), BadInput> {
    check_ids(&[
        ("project", project),
        ("notebook", notebook),
        ("source", source),
    ])?;
    check_title(&body.title)?;
    if body.text.len() > MAX_SOURCE_TEXT_BYTES {
        return Err(too_large(
            "source text",
            body.text.len(),
            MAX_SOURCE_TEXT_BYTES,
        ));
    }
    if body.text.trim().is_empty() {
        return Err(invalid(format!("source {source} has no text")));
    }
    Ok(())
}

fn check_query(body: &QueryRequest) -> Result<(), BadInput> {
    if body.question.trim().is_empty() {
        return Err(invalid("question is empty".into()));
    }
    if body.question.len() > MAX_QUESTION_BYTES {
        return Err(too_large(
            "question",
            body.question.len(),
            MAX_QUESTION_BYTES,
        ));
    }
    if body.source_ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(
            "source_ids is empty; leave it out to query every source".into(),
        ));
    }
    Ok(())
}

/// The answer to a refusal, naming the project and notebook.
fn refused(refusal: Refusal, project: &str, notebook: &str) -> Response {
    match refusal {
        Refusal::Unavailable { outage: true } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("project {project}: the notebook service is down (simulated outage)"),
        ),
        Refusal::Unavailable { outage: false } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("project {project}: simulated failure; nothing was changed, retry"),
        ),
        Refusal::NotebookNotFound => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("project {project} has no notebook {notebook}"),
        ),
        Refusal::NotReady { retry_after } => with_retry_after(
            error(
                StatusCode::CONFLICT,
                "not_ready",
                format!(
                    "notebook {notebook} of project {project} is still being created; \
                     ready in {} ms",
                    retry_after.as_millis()
                ),
            ),
            retry_after,
        ),
        Refusal::NotebookLimit { limit } => error(
            StatusCode::CONFLICT,
            "notebook_limit",
            format!(
                "project {project} holds {limit} notebooks, its limit; \
                 delete one or create it in another project"
            ),
        ),
        Refusal::SourceLimit { limit } => error(
            StatusCode::CONFLICT,
            "source_limit",
            format!("notebook {notebook} of project {project} holds {limit} sources, its limit"),
        ),
        Refusal::UnknownSources(ids) => error(
            StatusCode::NOT_FOUND,
            "source_not_found",
            format!(
                "notebook {notebook} of project {project} has no source {}",
                ids.join(", ")
            ),
        ),
        Refusal::QuotaExhausted { limit, retry_after } => with_retry_after(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exhausted",
                format!(
                    "project {project} has answered {limit} queries today, its daily limit; \
                     the quota resets at midnight UTC"
                ),
            ),
            retry_after,
        ),
    }
}

/// `PUT /projects/{project}/notebooks/{notebook}`: 201 with the notebook when created, 200
/// when it was there (title and labels updated, state and sources kept).
async fn create(
    State(shared): State<Shared>,
    Path((project, notebook)): Path<(String, String)>,
    body: Result<Json<CreateNotebook>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if let Err(bad) = check_create(&project, &notebook, &body) {
        return bad.into_response();
    }
    let mut state = lock(&shared);
    let result = state
        .fault(&project)
        .and_then(|()| state.create(&project, &notebook, body.title, body.labels, Now::real()));
    match result {
        Ok((nb, true)) => (StatusCode::CREATED, Json(nb)).into_response(),
        Ok((nb, false)) => Json(nb).into_response(),
        Err(r) => refused(r, &project, &notebook),
    }
}

/// `GET /projects/{project}/notebooks/{notebook}`: the notebook with its state; 404 when absent.
async fn read(
    State(shared): State<Shared>,
    Path((project, notebook)): Path<(String, String)>,
) -> Response {
    let state = lock(&shared);
    if let Err(r) = state.fault(&project) {
        return refused(r, &project, &notebook);
    }
    match state.get(&project, &notebook, Now::real()) {
        Some(nb) => Json(nb).into_response(),
        None => refused(Refusal::NotebookNotFound, &project, &notebook),
    }
}

/// `DELETE /projects/{project}/notebooks/{notebook}`: 204, whether or not it was there —
/// callers retry deletes, and the outcome they want (no such notebook) holds either way.
async fn delete(
    State(shared): State<Shared>,
    Path((project, notebook)): Path<(String, String)>,
) -> Response {
    let mut state = lock(&shared);
    if let Err(r) = state.fault(&project) {
        return refused(r, &project, &notebook);
    }
    state.delete(&project, &notebook);
    StatusCode::NO_CONTENT.into_response()
}

/// `PUT .../sources/{source}`: 201 with the source when added, 200 when it was there (title and
/// text replaced, place kept); 409 `source_limit`, 409 `not_ready`, 404 without the notebook.
async fn put_source(
    State(shared): State<Shared>,
    Path((project, notebook, source)): Path<(String, String, String)>,
    body: Result<Json<PutSource>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if let Err(bad) = check_source(&project, &notebook, &source, &body) {
        return bad.into_response();
    }
    let mut state = lock(&shared);
    let result = state.fault(&project).and_then(|()| {
        state.put_source(
            &project,
            &notebook,
            &source,
            body.title,
            body.text,
            Now::real(),
        )
    });
    match result {
        Ok((info, true)) => (StatusCode::CREATED, Json(info)).into_response(),
        Ok((info, false)) => Json(info).into_response(),
        Err(r) => refused(r, &project, &notebook),
    }
}

/// `GET .../sources`: the sources (id, title, chars) in the order added; 404 without the notebook.
async fn list_sources(
    State(shared): State<Shared>,
    Path((project, notebook)): Path<(String, String)>,
) -> Response {
    let state = lock(&shared);
    match state
        .fault(&project)
        .and_then(|()| state.sources(&project, &notebook))
    {
        Ok(sources) => Json(sources).into_response(),
        Err(r) => refused(r, &project, &notebook),
    }
}

/// `DELETE .../sources/{source}`: 204, whether or not it (or its notebook) was there.
async fn delete_source(
    State(shared): State<Shared>,
    Path((project, notebook, source)): Path<(String, String, String)>,
) -> Response {
    let mut state = lock(&shared);
    if let Err(r) = state.fault(&project) {
        return refused(r, &project, &notebook);
    }
    state.delete_source(&project, &notebook, &source);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST .../query`: the extractive answer with its citations (`notebooks::answer`).
async fn query(
    State(shared): State<Shared>,
    Path((project, notebook)): Path<(String, String)>,
    body: Result<Json<QueryRequest>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if let Err(bad) = check_query(&body) {
        return bad.into_response();
    }
    let admitted = {
        let mut state = lock(&shared);
        let latency = Duration::from_millis(state.behaviour(&project).query_latency_ms);
        state
            .fault(&project)
            .and_then(|()| {
                state.admit_query(&project, &notebook, body.source_ids.as_deref(), Now::real())
            })
            .map(|sources| (sources, latency))
    };
    match admitted {
        Ok((sources, latency)) => {
            let answer = notebooks::answer(&body.question, &sources);
            tokio::time::sleep(latency).await;
            Json(answer).into_response()
        }
        Err(r) => refused(r, &project, &notebook),
    }
}

/// `PUT /admin/projects/{project}/notebooks`: replaces the project's behaviour.
async fn set_behaviour(
    State(shared): State<Shared>,
    Path(project): Path<String>,
    body: Result<Json<NotebookBehaviour>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(b)) if (0.0..=1.0).contains(&b.failure_rate) => {
            lock(&shared).set_behaviour(&project, b.clone());
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

/// `GET /admin/projects/{project}/notebooks`: the behaviour in force.
async fn get_behaviour(
    State(shared): State<Shared>,
    Path(project): Path<String>,
) -> Json<NotebookBehaviour> {
    Json(lock(&shared).behaviour(&project).clone())
}

/// `GET /admin/notebooks`: per project, notebooks, sources and queries.
async fn counts(State(shared): State<Shared>) -> Response {
    Json(lock(&shared).counts(Now::real())).into_response()
}

/// `GET /admin/notebooks/{project}`: the project's notebooks with their source ids.
async fn listing(State(shared): State<Shared>, Path(project): Path<String>) -> Response {
    Json(lock(&shared).listing(&project, Now::real())).into_response()
}
