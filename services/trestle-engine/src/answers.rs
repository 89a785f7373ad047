//! What a provider step asks, by what its request is routed to (`routing.rs`): the prompt
//! alone to a chat model; a job's notebook (its own, or its warm pool's filtered to the job's
//! sources), from the notebook's project; or RAG — the question embedded, the job's nearest
//! chunks from its company's shard, and the step's chat model answering from them. Each call
//! goes through `calls::through` (quota, breaker, federation); the answer names what it was
//! made from and the documents it cites.

use std::future::Future;
use std::time::{Duration, Instant};

use trestle_events::{AiRequestRerouted, AiRequestSubmitted, AnswerPath};
use trestle_notebooks::questions::{self, Chunk};

use crate::calls::{self, timed, Made, StepError, Through};
use crate::chains::Step;
use crate::directory::Tenant;
use crate::provider::Answer;
use crate::routing::{JobAnswering, JobRoute, NotebookTarget, NO_DOCUMENTS};
use crate::serve::Services;

/// A step's answer, before it becomes events.
pub(crate) struct Answered {
    pub text: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub latency: Duration,
    /// Project of the call that answered; `None`: no provider answered (RAG found no
    /// documents), so the step's meter is not used and nothing is cached.
    pub project: Option<String>,
    pub path: AnswerPath,
    /// Documents cited, each once, in order of first citation.
    pub cited: Vec<String>,
    /// The calls a spare took, in call order.
    pub rerouted: Vec<AiRequestRerouted>,
    /// Tokens of the question's embedding (RAG), billed besides the step's own meter.
    pub embedding_tokens: Option<i64>,
}

/// One step asked for one request.
pub(crate) struct Asked<'a> {
    pub services: &'a Services,
    pub step: &'a Step,
    pub submitted: &'a AiRequestSubmitted,
    pub tenant: &'a Tenant,
}

impl Asked<'_> {
    fn unanswerable(&self, reason: String) -> StepError {
        let provider = self.step.provider.clone();
        StepError::Unanswerable { provider, reason }
    }

    fn answering(&self) -> Result<&JobAnswering, StepError> {
        (self.services.answering.as_ref())
            .ok_or_else(|| self.unanswerable("job questions are not routed".into()))
    }

    /// One call to `provider` for this request, from the projects `projects` allows.
    async fn through<T, F, Fut>(
        &self,
        provider: &str,
        projects: Through<'_>,
        call: F,
    ) -> Result<Made<T>, StepError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let (services, submitted, tenant) = (self.services, self.submitted, self.tenant);
        calls::through(services, provider, submitted, tenant, projects, call).await
    }

    /// The step's chat model, asked `context` (if any) and the prompt.
    async fn chat(&self, context: Option<&str>) -> Result<Made<Answer>, StepError> {
        let (client, step, prompt) = (&self.services.client, self.step, &self.submitted.prompt);
        let ask = || async move {
            let answer = match context {
                Some(context) => {
                    (client.ask_with_context(&step.provider, &step.model, context, prompt)).await
                }
                None => client.ask(&step.provider, &step.model, prompt).await,
            };
            Ok(answer?)
        };
        self.through(&step.provider, Through::Company, ask).await
    }

    /// The prompt alone, to the step's chat model.
    pub(crate) async fn prompt(&self) -> Result<Answered, StepError> {
        let made = self.chat(None).await?;
        let answer = made.value;
        Ok(Answered {
            text: answer.text,
            input_tokens: answer.input_tokens,
            output_tokens: answer.output_tokens,
            latency: answer.latency,
            project: Some(made.project),
            path: AnswerPath::Chat,
            cited: Vec::new(),
            rerouted: made.rerouted.into_iter().collect(),
            embedding_tokens: None,
        })
    }

    /// A query of the job's notebook, from the notebook's own project. A notebook that cites a
    /// source outside the job's (a warm pool's other jobs) fails the step: the answer may
    /// carry another job's text, so RAG answers instead.
    pub(crate) async fn notebook(&self, target: &NotebookTarget) -> Result<Answered, StepError> {
        let started = Instant::now();
        let service = &self.answering()?.service;
        let provider = &self.step.provider;
        let project = target.cloud_project_id.as_str();
        let query = || async move {
            let sources = target.source_ids.as_deref();
            let prompt = &self.submitted.prompt;
            let query = service.query(project, &target.notebook_id, prompt, sources);
            let provider = provider.clone();
            (timed(&provider, query).await)
                .map_err(|source| StepError::Notebook { provider, source })
        };
        let made = self
            .through(provider, Through::Only(project), query)
            .await?;
        let answer = made.value;
        let cited = unique(answer.citations.iter().map(|c| c.source_id.as_str()));
        if let Some(allowed) = &target.source_ids {
            if let Some(stray) = cited.iter().find(|id| !allowed.contains(id)) {
                return Err(self.unanswerable(format!(
                    "notebook {} cited source {stray}, which is not a document of the job",
                    target.notebook_id
                )));
            }
        }
        Ok(Answered {
            text: answer.answer,
            input_tokens: answer.usage.prompt_tokens,
            output_tokens: answer.usage.completion_tokens,
            latency: started.elapsed(),
            project: Some(made.project),
            path: target.path,
            cited,
            rerouted: made.rerouted.into_iter().collect(),
            embedding_tokens: None,
        })
    }

    /// RAG: the question embedded, the job's nearest chunks, the step's chat model answering
    /// from them; their documents are cited. A job with no chunks gets [`NO_DOCUMENTS`],
    /// without a call when it is known to have none.
    pub(crate) async fn rag(&self, job: &JobRoute) -> Result<Answered, StepError> {
        let started = Instant::now();
        let answering = self.answering()?;
        let Some(shard) = &job.shard else {
            let reason = format!("job {}: the company's shard is not configured", job.job_id);
            return Err(self.unanswerable(reason));
        };
        if job.has_chunks == Some(false) {
            return Ok(no_documents(started, Vec::new(), None));
        }
        let rag = &answering.rag;
        let embedder = &rag.embedding_provider;
        let embed = || async move {
            let question = std::slice::from_ref(&self.submitted.prompt);
            let embed = answering.service.embed(question);
            let provider = embedder.clone();
            (timed(&provider, embed).await)
                .map_err(|source| StepError::Notebook { provider, source })
        };
        let embedded = self.through(embedder, Through::Company, embed).await?;
        let mut rerouted: Vec<_> = embedded.rerouted.into_iter().collect();
        let tokens = embedded.value.tokens;
        let Some(vector) = embedded.value.vectors.first() else {
            return Err(self.unanswerable("the question's embedding is missing".into()));
        };
        let company = self.submitted.meta.company_id;
        let k = rag.nearest_chunks;
        let chunks = questions::nearest_chunks(shard, company, &job.job_id, vector, k)
            .await
            .map_err(|e| {
                self.unanswerable(format!("job {}: reading its chunks: {e}", job.job_id))
            })?;
        if chunks.is_empty() {
            return Ok(no_documents(started, rerouted, Some(tokens)));
        }
        let made = self.chat(Some(&context(&job.job_id, &chunks))).await?;
        rerouted.extend(made.rerouted);
        let answer = made.value;
        Ok(Answered {
            text: answer.text,
            input_tokens: answer.input_tokens,
            output_tokens: answer.output_tokens,
            latency: started.elapsed(),
            project: Some(made.project),
            path: AnswerPath::Rag,
            cited: unique(chunks.iter().map(|c| c.document_id.as_str())),
            rerouted,
            embedding_tokens: Some(tokens),
        })
    }
}

/// The RAG answer of a job without embedded documents: no chat call, nothing cited.
fn no_documents(
    started: Instant,
    rerouted: Vec<AiRequestRerouted>,
    embedding_tokens: Option<i64>,
) -> Answered {
    Answered {
        text: NO_DOCUMENTS.into(),
        input_tokens: 0,
        output_tokens: 0,
        latency: started.elapsed(),
        project: None,
        path: AnswerPath::Rag,
        cited: Vec::new(),
        rerouted,
        embedding_tokens,
    }
}

/// The system message of a RAG call: the instructions and each chunk, nearest first, named by
/// its document.
fn context(job_id: &str, chunks: &[Chunk]) -> String {
    let mut context = format!(
        "Answer the question only from these excerpts of the documents of job {job_id}, and \
         name the document each statement comes from. If they do not answer it, say so.\n"
    );
    for chunk in chunks {
        context.push_str(&format!(
            "\n[document {}, part {}]\n{}\n",
            chunk.document_id,
            chunk.chunk_index + 1,
            chunk.content
        ));
    }
    context
}

/// Each id once, in order of first appearance.
fn unique<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = Vec::<String>::new();
    for id in ids {
        if !seen.iter().any(|s| s == id) {
            seen.push(id.to_owned());
        }
    }
    seen
}
