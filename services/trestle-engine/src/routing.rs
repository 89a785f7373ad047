//! Routing a `notebook_query` by its job's current state, read from the company's shard (the
//! notebook workflow's tables, through `trestle_notebooks::questions`):
//!
//! ```text
//! hot, its notebook ready              ─▶ the notebooklm step queries that notebook
//! warm, its pool's notebook ready      ─▶ the notebooklm step queries the pool's notebook,
//!   and documents of the job synced in    filtered to the job's documents synced into it
//! cold, recreating, notebook not ready,
//!   warm without synced documents,
//!   a job the shard does not know      ─▶ RAG first (the notebooklm step is left out)
//! the notebooklm step fails            ─▶ RAG, degraded (the chain's next step)
//! ```
//!
//! RAG is every other step of the chain (and the degrade step): the question embedded, the
//! job's nearest chunks as context of that step's chat model, their documents cited.
//!
//! A `notebook_query` about no job is a question to the company's knowledge base, routed the
//! same way under its scope ([`KNOWLEDGE_BASE`]; its answers say `knowledge_base`). A request
//! that is not a `notebook_query`, whose company has no knowledge base (onboarded before they
//! existed) or one with nothing embedded yet (being set up), or whose shard is not known (no shard databases configured, a company served as a
//! starter without provisioning) is not routed: every step answers from the prompt alone, as
//! before routing existed.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use trestle_events::{AiRequestKind, AiRequestSubmitted, AnswerPath};
use trestle_notebooks::questions::{self, JobState};
use trestle_notebooks::KNOWLEDGE_BASE;

use crate::chains::{Chain, Step};
use crate::directory::Tenant;

/// The provider whose steps answer from a job's notebook; every other step of a routed
/// `notebook_query` is a RAG step.
pub(crate) const NOTEBOOK_PROVIDER: &str = "notebooklm";

/// What a RAG answer says when the job has no embedded document (or the shard does not know
/// the job): no provider is called.
pub(crate) const NO_DOCUMENTS: &str = "No documents of this job are available to answer from yet.";

/// How RAG answers a question about a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RagOptions {
    /// Chunks of the job's documents given to the model as context, nearest first. Default 6.
    pub nearest_chunks: u32,
    /// Provider of the embeddings endpoint (`{provider.base_url}/{embedding_provider}/v1/
    /// embeddings`); it must embed like the notebook workflow's (`service.embedding_provider`
    /// there), so a question lands near its chunks. Default `embeddings`.
    pub embedding_provider: String,
    /// Embedding model asked for; the notebook workflow's (`service.embedding_model`).
    /// Default `text-embedding-sim`.
    pub embedding_model: String,
}

impl Default for RagOptions {
    fn default() -> Self {
        let service = trestle_notebooks::ServiceOptions::default();
        RagOptions {
            nearest_chunks: 6,
            embedding_provider: service.embedding_provider,
            embedding_model: service.embedding_model,
        }
    }
}

/// What answering job questions needs: the shard pools, the notebook service, RAG's knobs.
pub(crate) struct JobAnswering {
    /// By shard number (the first is shard 0).
    pub shards: Vec<PgPool>,
    pub service: trestle_notebooks::client::NotebookService,
    pub rag: RagOptions,
}

/// What a request's steps answer from.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// The prompt alone (not routed).
    Prompt,
    /// A question about a job.
    Job(JobRoute),
}

/// A question about a job, and what its steps go to.
#[derive(Debug, Clone)]
pub(crate) struct JobRoute {
    pub job_id: String,
    /// The company's shard; `None`: its shard number is not configured (RAG fails too).
    pub shard: Option<PgPool>,
    /// The notebook the notebooklm step queries; `Err`: why none does (then RAG answers
    /// first, unless the job's state could not be read at all).
    pub notebook: Result<NotebookTarget, NoNotebook>,
    /// Whether the job has embedded chunks; `None`: not known (the job's state was unread).
    pub has_chunks: Option<bool>,
}

/// The notebook a job question goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotebookTarget {
    /// `JobNotebook` or `WarmNotebook`.
    pub path: AnswerPath,
    pub notebook_id: String,
    /// Its cloud project: the only one the query can be made from.
    pub cloud_project_id: String,
    /// A warm pool's notebook: only the job's sources answer. `None`: every source (the
    /// job's own notebook holds its documents alone).
    pub source_ids: Option<Vec<String>>,
}

/// Why no notebook answers a job question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoNotebook {
    /// By the job's state: RAG answers it first, not as a fallback.
    RagFirst(String),
    /// The job's state could not be read: the notebooklm step fails with this, and RAG
    /// tries (it reads the shard again).
    Unreadable(String),
}

/// What one step of a routed request answers from.
pub(crate) enum Source<'a> {
    Prompt,
    Notebook(&'a NotebookTarget),
    Rag(&'a JobRoute),
    /// The step cannot answer this request (a notebook step without a notebook).
    Refused(String),
}

impl Route {
    /// Whether RAG answers first: the chain's notebooklm steps are left out.
    pub(crate) fn rag_first(&self) -> bool {
        matches!(self, Route::Job(job) if matches!(job.notebook, Err(NoNotebook::RagFirst(_))))
    }

    /// What `step` answers from.
    pub(crate) fn source_for(&self, step: &Step) -> Source<'_> {
        let Route::Job(job) = self else {
            return Source::Prompt;
        };
        if step.provider != NOTEBOOK_PROVIDER {
            return Source::Rag(job);
        }
        match &job.notebook {
            Ok(target) => Source::Notebook(target),
            Err(NoNotebook::RagFirst(why) | NoNotebook::Unreadable(why)) => {
                Source::Refused(format!("job {}: {why}", job.job_id))
            }
        }
    }
}

/// The chain without its notebooklm steps (degrade step kept), for requests RAG answers
/// first; `None` when that leaves no step (then the whole chain runs, its notebook steps
/// refused).
pub(crate) fn without_notebook_steps(chain: &Chain) -> Option<Chain> {
    let steps: Vec<Step> = (chain.steps.iter())
        .filter(|s| s.provider != NOTEBOOK_PROVIDER)
        .cloned()
        .collect();
    (!steps.is_empty()).then(|| Chain {
        steps,
        degrade_to: chain.degrade_to.clone(),
    })
}

/// Where `submitted`'s steps go: read from the company's shard for a `notebook_query` about a
/// job, else the prompt alone.
pub(crate) async fn resolve(
    answering: Option<&JobAnswering>,
    submitted: &AiRequestSubmitted,
    tenant: &Tenant,
) -> Route {
    let (Some(answering), Some(shard_number), AiRequestKind::NotebookQuery) =
        (answering, tenant.shard, submitted.kind)
    else {
        return Route::Prompt;
    };
    // A question about no job asks the company's knowledge base, kept as a scope of its own.
    let job_id = (submitted.job_id.as_deref())
        .filter(|j| !j.is_empty())
        .unwrap_or(KNOWLEDGE_BASE);
    let company = submitted.meta.company_id;
    let job_id = job_id.to_owned();
    let shard = usize::try_from(shard_number)
        .ok()
        .and_then(|i| answering.shards.get(i))
        .cloned();
    let Some(pool) = &shard else {
        let shards = answering.shards.len();
        tracing::warn!(message = "A company's shard is not among the configured shard databases; its job questions cannot be answered.", %company, shard = shard_number, shards);
        let why = format!("company's shard {shard_number} is not configured ({shards} [[shards]])");
        return Route::Job(JobRoute {
            job_id,
            shard,
            notebook: Err(NoNotebook::Unreadable(why)),
            has_chunks: None,
        });
    };
    let (notebook, has_chunks) = match questions::job_state(pool, company, &job_id).await {
        // A knowledge base still being set up (no template embedded yet) has nothing to answer
        // from: the prompt alone, as for a company without one.
        Ok(Some(state)) if job_id == KNOWLEDGE_BASE && !state.has_chunks => return Route::Prompt,
        Ok(Some(state)) => (target(&job_id, &state), Some(state.has_chunks)),
        // A company onboarded before knowledge bases existed has none: the prompt alone.
        Ok(None) if job_id == KNOWLEDGE_BASE => return Route::Prompt,
        Ok(None) => (
            Err(NoNotebook::RagFirst(
                "not known in the company's shard".into(),
            )),
            Some(false),
        ),
        Err(error) => {
            tracing::warn!(message = "Reading a job's state failed; its question goes down the chain without its notebook.", %company, job_id, %error);
            let why = format!("its state could not be read: {error}");
            (Err(NoNotebook::Unreadable(why)), None)
        }
    };
    Route::Job(JobRoute {
        job_id,
        shard,
        notebook,
        has_chunks,
    })
}

/// The notebook job `job_id` in `state` is asked in, or why RAG answers it.
fn target(job_id: &str, state: &JobState) -> Result<NotebookTarget, NoNotebook> {
    let rag = |why: &str| Err(NoNotebook::RagFirst(why.to_owned()));
    let path = match state.tier.as_str() {
        "hot" if job_id == KNOWLEDGE_BASE => AnswerPath::KnowledgeBase,
        "hot" => AnswerPath::JobNotebook,
        "warm" => AnswerPath::WarmNotebook,
        "cold" => return rag("cold (its notebook is deleted)"),
        "recreating" => return rag("its notebook is being re-created"),
        other => return rag(&format!("tier {other:?} has no notebook")),
    };
    let Some(notebook) = &state.notebook else {
        return rag("no notebook of it is recorded");
    };
    if notebook.state != "ready" {
        return rag(&format!(
            "its notebook {} is {}",
            notebook.notebook_id, notebook.state
        ));
    }
    let source_ids = match path {
        AnswerPath::WarmNotebook if state.synced_sources.is_empty() => {
            return rag(&format!(
                "none of its documents is synced into warm notebook {}",
                notebook.notebook_id
            ));
        }
        AnswerPath::WarmNotebook => Some(state.synced_sources.clone()),
        _ => None,
    };
    Ok(NotebookTarget {
        path,
        notebook_id: notebook.notebook_id.clone(),
        cloud_project_id: notebook.cloud_project_id.clone(),
        source_ids,
    })
}

#[cfg(test)]
mod tests {
    use trestle_events::Meter;
    use trestle_notebooks::questions::NotebookRef;

    use super::*;

    fn state(tier: &str, notebook: Option<&str>, sources: &[&str]) -> JobState {
        JobState {
            tier: tier.into(),
            notebook: notebook.map(|state| NotebookRef {
                notebook_id: "nb-1".into(),
                cloud_project_id: "us-1".into(),
                state: state.into(),
            }),
            synced_sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            has_chunks: true,
        }
    }

    fn rag_first(result: Result<NotebookTarget, NoNotebook>) -> String {
        match result {
            Err(NoNotebook::RagFirst(why)) => why,
            other => panic!("expected RAG first, got {other:?}"),
        }
    }

    #[test]
    fn a_hot_job_with_a_ready_notebook_asks_it_unfiltered() {
        let target = target("job-1", &state("hot", Some("ready"), &[])).unwrap();
        assert_eq!(
            target,
            NotebookTarget {
                path: AnswerPath::JobNotebook,
                notebook_id: "nb-1".into(),
                cloud_project_id: "us-1".into(),
                source_ids: None,
            }
        );
    }

    #[test]
    fn the_knowledge_base_is_asked_unfiltered_and_says_so() {
        let target = target(KNOWLEDGE_BASE, &state("hot", Some("ready"), &[])).unwrap();
        assert_eq!(target.path, AnswerPath::KnowledgeBase);
        assert_eq!(target.source_ids, None);
    }

    #[test]
    fn a_warm_job_asks_its_pools_notebook_filtered_to_its_synced_documents() {
        let target = target("job-1", &state("warm", Some("ready"), &["d-1", "d-2"])).unwrap();
        assert_eq!(target.path, AnswerPath::WarmNotebook);
        assert_eq!(target.source_ids, Some(vec!["d-1".into(), "d-2".into()]));
        let why = rag_first(super::target("job-1", &state("warm", Some("ready"), &[])));
        assert!(why.contains("none of its documents is synced"), "{why}");
    }

    #[test]
    fn cold_recreating_and_unready_jobs_are_answered_by_rag_first() {
        assert!(rag_first(target("job-1", &state("cold", None, &[]))).contains("cold"));
        let recreating = state("recreating", Some("creating"), &[]);
        assert!(rag_first(target("job-1", &recreating)).contains("re-created"));
        let creating = rag_first(target("job-1", &state("hot", Some("creating"), &[])));
        assert!(creating.contains("nb-1 is creating"), "{creating}");
        let deleted = rag_first(target("job-1", &state("hot", Some("deleted"), &[])));
        assert!(deleted.contains("is deleted"), "{deleted}");
        assert!(rag_first(target("job-1", &state("hot", None, &[]))).contains("no notebook"));
    }

    #[test]
    fn rag_first_leaves_the_notebook_steps_out_and_keeps_the_degrade_step() {
        let step = |provider: &str| Step {
            provider: provider.into(),
            model: "m".into(),
            meter: Meter::GeminiProQueries,
        };
        let chain = Chain {
            steps: vec![step(NOTEBOOK_PROVIDER), step("gemini")],
            degrade_to: Some(step("gemini-flash")),
        };
        let rag = without_notebook_steps(&chain).unwrap();
        assert_eq!(rag.steps, vec![step("gemini")]);
        assert_eq!(rag.degrade_to, chain.degrade_to);
        let only_notebooks = Chain {
            steps: vec![step(NOTEBOOK_PROVIDER)],
            degrade_to: None,
        };
        assert_eq!(without_notebook_steps(&only_notebooks), None);
    }
}
