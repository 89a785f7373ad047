//! HTTP client of the notebook service (a NotebookLM-style API per cloud project, and an
//! OpenAI-compatible embeddings endpoint): every call that changes something is idempotent by
//! an id we choose, so a redone step repeats calls safely. The engine uses it too, to query a
//! job's notebook and to embed a question for RAG. Transient failures are retried here with
//! backoff, briefly; what outlasts that is the caller's to retry durably (a timer).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How the workflow reaches the notebook service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceOptions {
    /// Base URL: notebooks at `{base_url}/projects/{project}/notebooks/…`, embeddings at
    /// `{base_url}/{embedding_provider}/v1/embeddings`.
    pub base_url: String,
    /// Deadline of one HTTP call.
    pub timeout_ms: u64,
    /// Calls per operation before the failure is the caller's (first try included).
    pub max_attempts: usize,
    /// First retry delay; doubles each retry, with jitter.
    pub retry_initial_ms: u64,
    /// Provider name of the embeddings endpoint.
    pub embedding_provider: String,
    /// Embedding model asked for.
    pub embedding_model: String,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            base_url: "http://127.0.0.1:18080".into(),
            timeout_ms: 30_000,
            max_attempts: 3,
            retry_initial_ms: 100,
            embedding_provider: "embeddings".into(),
            embedding_model: "text-embedding-sim".into(),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The project holds its notebook limit.
    #[error("project {project} is full: {message}")]
    ProjectFull { project: String, message: String },
    /// The notebook holds its source limit.
    #[error("notebook {notebook} is full: {message}")]
    SourceLimit { notebook: String, message: String },
    /// The notebook is still being created at the provider.
    #[error("notebook {notebook} is not ready yet: {message}")]
    NotReady { notebook: String, message: String },
    /// No such notebook at the provider.
    #[error("notebook {notebook} does not exist at the provider")]
    NotFound { notebook: String },
    /// Down, throttled or unreachable: a later attempt may succeed.
    #[error("{what}: the service is unavailable: {message}")]
    Unavailable { what: String, message: String },
    /// Refused for good (a bad request: a bug of ours, or data the service will never take).
    #[error("{what}: refused with HTTP {status}: {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
}

impl CallError {
    /// Worth another try later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::Unavailable { .. } | CallError::NotReady { .. }
        )
    }
}

/// A notebook's state at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NotebookState {
    /// `creating` or `ready`.
    pub state: String,
}

/// One sentence of a notebook's answer and the source it came from (a source's id is the
/// document's id).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Citation {
    pub source_id: String,
    pub sentence: String,
}

/// A notebook's answer to a question.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueryAnswer {
    pub answer: String,
    /// The sentences the answer used, best first; empty when nothing matched.
    #[serde(default)]
    pub citations: Vec<Citation>,
    #[serde(default)]
    pub usage: QueryUsage,
}

/// Tokens (or the provider's units) a query took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct QueryUsage {
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
}

/// One embedded text.
#[derive(Debug, Clone, Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Debug, Clone, Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
    #[serde(default)]
    usage: Option<EmbeddingUsage>,
}

#[derive(Debug, Clone, Deserialize)]
struct EmbeddingUsage {
    #[serde(default)]
    prompt_tokens: i64,
}

/// Embeddings of a batch of texts, in input order, and the tokens they cost.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: i64,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: String,
    message: String,
}

/// The notebook service.
#[derive(Clone)]
pub struct NotebookService {
    http: reqwest::Client,
    options: ServiceOptions,
}

impl NotebookService {
    pub fn new(options: ServiceOptions) -> Result<Self, CallError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(options.timeout_ms))
            .build()
            .map_err(|e| CallError::Refused {
                what: "building the HTTP client".into(),
                status: 0,
                message: e.to_string(),
            })?;
        Ok(NotebookService { http, options })
    }

    fn notebook_url(&self, project: &str, notebook: &str) -> String {
        format!(
            "{}/projects/{project}/notebooks/{notebook}",
            self.options.base_url.trim_end_matches('/')
        )
    }

    /// Creates the notebook `notebook` in `project` (or finds it there): its state.
    pub async fn create_notebook(
        &self,
        project: &str,
        notebook: &str,
        title: &str,
    ) -> Result<NotebookState, CallError> {
        let url = self.notebook_url(project, notebook);
        let body = json!({"title": title});
        let what = format!("creating notebook {notebook} in {project}");
        self.retry(|| async {
            let response = self.http.put(&url).json(&body).send().await;
            let response = check(response, &what, project, notebook).await?;
            response
                .json::<NotebookState>()
                .await
                .map_err(|e| unreadable(&what, e))
        })
        .await
    }

    /// Deletes the notebook (nothing to do when it is gone already).
    pub async fn delete_notebook(&self, project: &str, notebook: &str) -> Result<(), CallError> {
        let url = self.notebook_url(project, notebook);
        let what = format!("deleting notebook {notebook} in {project}");
        self.retry(|| async {
            match check(
                self.http.delete(&url).send().await,
                &what,
                project,
                notebook,
            )
            .await
            {
                Ok(_) | Err(CallError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Adds (or finds) source `source` with `text` in the notebook.
    pub async fn put_source(
        &self,
        project: &str,
        notebook: &str,
        source: &str,
        title: &str,
        text: &str,
    ) -> Result<(), CallError> {
        let url = format!("{}/sources/{source}", self.notebook_url(project, notebook));
        let body = json!({"title": title, "text": text});
        let what = format!("adding source {source} to notebook {notebook} in {project}");
        self.retry(|| async {
            check(
                self.http.put(&url).json(&body).send().await,
                &what,
                project,
                notebook,
            )
            .await
            .map(|_| ())
        })
        .await
    }

    /// Removes source `source` from the notebook (nothing to do when it is gone already).
    pub async fn delete_source(
        &self,
        project: &str,
        notebook: &str,
        source: &str,
    ) -> Result<(), CallError> {
        let url = format!("{}/sources/{source}", self.notebook_url(project, notebook));
        let what = format!("removing source {source} from notebook {notebook} in {project}");
        self.retry(|| async {
            match check(
                self.http.delete(&url).send().await,
                &what,
                project,
                notebook,
            )
            .await
            {
                Ok(_) | Err(CallError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Asks the notebook `question`, answered only from the sources `source_ids` when given
    /// (a warm pool's notebook holds several jobs' sources; an empty filter is refused, so
    /// the caller decides what a job without sources gets). Each call is a query the
    /// provider counts; retried only while the service is unavailable.
    pub async fn query(
        &self,
        project: &str,
        notebook: &str,
        question: &str,
        source_ids: Option<&[String]>,
    ) -> Result<QueryAnswer, CallError> {
        let url = format!("{}/query", self.notebook_url(project, notebook));
        let mut body = json!({"question": question});
        if let Some(ids) = source_ids {
            body["source_ids"] = json!(ids);
        }
        let what = format!("querying notebook {notebook} in {project}");
        self.retry(|| async {
            let response = self.http.post(&url).json(&body).send().await;
            let response = check(response, &what, project, notebook).await?;
            response
                .json::<QueryAnswer>()
                .await
                .map_err(|e| unreadable(&what, e))
        })
        .await
    }

    /// The embeddings of `texts`, in order.
    pub async fn embed(&self, texts: &[String]) -> Result<Embeddings, CallError> {
        let url = format!(
            "{}/{}/v1/embeddings",
            self.options.base_url.trim_end_matches('/'),
            self.options.embedding_provider
        );
        let body = json!({"model": self.options.embedding_model, "input": texts});
        let what = format!("embedding {} chunks", texts.len());
        self.retry(|| async {
            let response =
                check(self.http.post(&url).json(&body).send().await, &what, "", "").await?;
            let mut answer: EmbeddingResponse =
                response.json().await.map_err(|e| unreadable(&what, e))?;
            if answer.data.len() != texts.len() {
                return Err(CallError::Refused {
                    what: what.clone(),
                    status: 200,
                    message: format!(
                        "{} embeddings for {} inputs",
                        answer.data.len(),
                        texts.len()
                    ),
                });
            }
            answer.data.sort_by_key(|item| item.index);
            Ok(Embeddings {
                vectors: answer.data.into_iter().map(|item| item.embedding).collect(),
                tokens: answer.usage.map(|u| u.prompt_tokens).unwrap_or(0),
            })
        })
        .await
    }

    async fn retry<T, F, Fut>(&self, call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CallError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.options.retry_initial_ms))
            .with_jitter()
            .with_max_times(self.options.max_attempts.saturating_sub(1));
        call.retry(backoff)
            .when(|e: &CallError| matches!(e, CallError::Unavailable { .. }))
            .await
    }
}

fn unreadable(what: &str, error: reqwest::Error) -> CallError {
    CallError::Refused {
        what: what.to_owned(),
        status: 200,
        message: format!("unreadable answer: {error}"),
    }
}

/// The response if it is a success, else the classified error.
async fn check(
    response: Result<reqwest::Response, reqwest::Error>,
    what: &str,
    project: &str,
    notebook: &str,
) -> Result<reqwest::Response, CallError> {
    let response = response.map_err(|e| CallError::Unavailable {
        what: what.to_owned(),
        message: e.to_string(),
    })?;
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let (kind, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error.kind, body.error.message),
        Err(_) => (String::new(), text),
    };
    Err(match (status, kind.as_str()) {
        (409, "notebook_limit") => CallError::ProjectFull {
            project: project.to_owned(),
            message,
        },
        (409, "source_limit") => CallError::SourceLimit {
            notebook: notebook.to_owned(),
            message,
        },
        (409, "not_ready") => CallError::NotReady {
            notebook: notebook.to_owned(),
            message,
        },
        (404, _) => CallError::NotFound {
            notebook: notebook.to_owned(),
        },
        (429, _) | (500..=599, _) => CallError::Unavailable {
            what: what.to_owned(),
            message,
        },
        _ => CallError::Refused {
            what: what.to_owned(),
            status,
            message,
        },
    })
}
