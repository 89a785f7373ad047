//! The steps: what each `jobs` record does to the company's notebooks and documents. Each is
//! idempotent (a redone step finds its own rows and makes the same calls, which the notebook
//! service takes once), and returns the events it leads to.

use std::time::{Duration, Instant};

use crate::client::{CallError, NotebookService};
use crate::error::Error;
use crate::ledger::{self, Job, SyncState};
use crate::placement::{self, Home};
use crate::{SyncOptions, TierOptions};
use chrono::Utc;
use sqlx::PgPool;
use trestle_events::{
    DocumentAdded, DocumentSyncFailed, DocumentSyncRequested, DocumentSynced, Event, JobCreated,
    Meta, NotebookCreated, NotebookPurpose, NotebookRecreated, NotebookTier, TimerScheduled,
};

/// What a step came to.
pub(crate) struct Done {
    pub events: Vec<Event>,
    /// The company's tier, as its routing says.
    pub tier: Option<trestle_tiers::Tier>,
}

/// The company a step works for.
pub(crate) struct Company<'a> {
    pub shard: &'a PgPool,
    pub home: Home,
}

/// Everything the steps use.
pub(crate) struct Steps {
    pub control: PgPool,
    pub shards: Vec<PgPool>,
    pub service: NotebookService,
    pub sync: SyncOptions,
    pub tiers: TierOptions,
}

impl Steps {
    /// Runs the step of `event`. An `Err` is worth trying again (a database, a company not
    /// provisioned yet, no capacity, the notebook service down while a notebook is created).
    pub(crate) async fn run(&self, event: &Event) -> Result<Done, Error> {
        let company_id = event.meta().company_id;
        let route = trestle_query::routing::lookup(&self.control, company_id)
            .await?
            .filter(|r| r.database_shard.is_some() && r.cloud_project_id.is_some())
            .ok_or(Error::NotProvisioned {
                company: company_id,
            })?;
        let shard_index = route.database_shard.expect("filtered");
        let shard = usize::try_from(shard_index)
            .ok()
            .and_then(|i| self.shards.get(i))
            .ok_or(Error::UnknownShard {
                company: company_id,
                shard: shard_index,
                shards: self.shards.len(),
            })?;
        let tier = route.tier.as_deref().map(|t| match t {
            "professional" => trestle_tiers::Tier::Professional,
            "premium" => trestle_tiers::Tier::Premium,
            "enterprise" => trestle_tiers::Tier::Enterprise,
            _ => trestle_tiers::Tier::Starter,
        });
        let company = Company {
            shard,
            home: Home {
                company: company_id,
                region: route.region.unwrap_or_default(),
                cloud_project_id: route.cloud_project_id.expect("filtered"),
                dedicated: route.isolation_level.as_deref() == Some("dedicated"),
            },
        };
        let events = match event {
            Event::JobCreated(e) => self.job_created(&company, e).await?,
            Event::DocumentAdded(e) => self.document_added(&company, e).await?,
            Event::DocumentSyncRequested(e) => self.sync(&company, e).await?,
            Event::JobCompleted(e) => self.job_completed(&company, e).await?,
            Event::JobReopened(e) => self.job_reopened(&company, e).await?,
            Event::JobTierDue(e) => self.tier_due(&company, e).await?,
            Event::JobNotebookRequested(e) => self.notebook_requested(&company, e).await?,
            Event::KnowledgeBaseRequested(e) => self.knowledge_base(&company, e).await?,
            other => {
                tracing::warn!(
                    message = "A jobs record this build does not act on is passed over.",
                    company = %company_id,
                    event = other.name()
                );
                Vec::new()
            }
        };
        Ok(Done { events, tier })
    }

    async fn job_created(
        &self,
        company: &Company<'_>,
        e: &JobCreated,
    ) -> Result<Vec<Event>, Error> {
        let job = ledger::ensure_job(
            company.shard,
            company.home.company,
            &e.job_id,
            &e.name,
            e.meta.occurred_at,
        )
        .await?;
        let (_, events) = self.ensure_own_notebook(company, &job, &e.meta).await?;
        Ok(events)
    }

    /// A document: its job (created if this is its first event) with its notebook, the document
    /// stored, and its first sync requested.
    async fn document_added(
        &self,
        company: &Company<'_>,
        e: &DocumentAdded,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let job = ledger::ensure_job(
            company.shard,
            company_id,
            &e.job_id,
            &e.job_id,
            e.meta.occurred_at,
        )
        .await?;
        let (_, mut events) = self.ensure_own_notebook(company, &job, &e.meta).await?;
        let document = ledger::add_document(company.shard, company_id, e).await?;
        if document.added_event_id != e.meta.event_id {
            tracing::warn!(
                message = "A document id uploaded again is passed over; the first upload stays.",
                company = %company_id,
                document = %e.document_id,
                first_upload = %document.added_event_id,
                again = %e.meta.event_id
            );
            return Ok(events);
        }
        if document.job_id != e.job_id {
            unreachable!("a document stored under its own upload's job");
        }
        events.push(Event::DocumentSyncRequested(DocumentSyncRequested {
            meta: Meta::caused_by(&e.meta),
            document_id: e.document_id.clone(),
            job_id: e.job_id.clone(),
            notebook_id: job.notebook_id.clone().unwrap_or_default(),
            attempt: 1,
        }));
        Ok(events)
    }

    /// The job's own notebook (hot, or being re-created), created at the provider if it is
    /// not yet: the notebook if it is ready, and `NotebookCreated` (`NotebookRecreated`) if
    /// this record's step made it ready.
    pub(crate) async fn ensure_own_notebook(
        &self,
        company: &Company<'_>,
        job: &Job,
        cause: &Meta,
    ) -> Result<(Option<ledger::Notebook>, Vec<Event>), Error> {
        let company_id = company.home.company;
        let recreating = job.tier == "recreating";
        let Some(id) = job
            .notebook_id
            .as_deref()
            .filter(|_| job.tier == "hot" || recreating)
        else {
            return Ok((None, Vec::new()));
        };
        let notebook = match ledger::notebook(company.shard, company_id, id).await? {
            Some(notebook) => notebook,
            None => {
                let project = placement::place(&self.control, id, &company.home, &[]).await?;
                ledger::insert_notebook(
                    company.shard,
                    company_id,
                    id,
                    Some(&job.job_id),
                    &project,
                    cause.event_id,
                )
                .await?
            }
        };
        let title = format!("{} — job {}", job.name, job.job_id);
        let Some(notebook) = self
            .create_at_provider(company, notebook, &title, cause)
            .await?
        else {
            return Ok((None, Vec::new()));
        };
        let mut events = Vec::new();
        if notebook.ready_by == Some(cause.event_id) {
            events.push(if recreating {
                Event::NotebookRecreated(NotebookRecreated {
                    meta: Meta::caused_by(cause),
                    notebook_id: id.to_owned(),
                    previous_notebook_id: ledger::job_notebook_id(
                        company_id,
                        &job.job_id,
                        job.generation - 1,
                    ),
                    job_id: Some(job.job_id.clone()),
                    cloud_project_id: notebook.cloud_project_id.clone(),
                    // A completed job asked for its notebook, or one reopened.
                    reason: if job.status == "completed" {
                        "requested".into()
                    } else {
                        "job_reopened".into()
                    },
                })
            } else {
                Event::NotebookCreated(NotebookCreated {
                    meta: Meta::caused_by(cause),
                    notebook_id: id.to_owned(),
                    purpose: NotebookPurpose::Job,
                    job_id: Some(job.job_id.clone()),
                    cloud_project_id: notebook.cloud_project_id.clone(),
                    tier: NotebookTier::Hot,
                })
            });
        }
        Ok((Some(notebook), events))
    }

    /// Creates a notebook recorded as `creating` at the provider (placing it in another
    /// project if the provider says its project is full): the notebook once ready, `None`
    /// while the provider is still setting it up. A notebook ready before is returned as is.
    pub(crate) async fn create_at_provider(
        &self,
        company: &Company<'_>,
        mut notebook: ledger::Notebook,
        title: &str,
        cause: &Meta,
    ) -> Result<Option<ledger::Notebook>, Error> {
        let company_id = company.home.company;
        let id = notebook.notebook_id.clone();
        let mut full = Vec::new();
        while notebook.state == "creating" {
            match self
                .service
                .create_notebook(&notebook.cloud_project_id, &id, title)
                .await
            {
                Ok(state) if state.state == "ready" => {
                    notebook =
                        ledger::notebook_ready(company.shard, company_id, &id, cause.event_id)
                            .await?;
                }
                // Created, still being set up at the provider.
                Ok(_) => return Ok(None),
                Err(CallError::ProjectFull { project, message }) => {
                    // Our count and the provider's differ: take it as full, place elsewhere.
                    tracing::warn!(
                        message = "The provider says a project is full; placing the notebook in another.",
                        company = %company_id,
                        notebook = %id,
                        %project,
                        provider_said = %message
                    );
                    full.push(project);
                    placement::release(&self.control, &id, company_id).await?;
                    let project =
                        placement::place(&self.control, &id, &company.home, &full).await?;
                    ledger::move_creating_notebook(company.shard, company_id, &id, &project)
                        .await?;
                    notebook.cloud_project_id = project;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok((notebook.state == "ready").then_some(notebook))
    }

    /// One sync attempt of a document: into the job's notebook as a source, and its chunks
    /// embedded into `ai_embeddings`. A failure is an event, and a timer for the next attempt
    /// while one may succeed.
    async fn sync(
        &self,
        company: &Company<'_>,
        e: &DocumentSyncRequested,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let me = e.meta.event_id;
        let Some(document) = ledger::document(company.shard, company_id, &e.document_id).await?
        else {
            tracing::warn!(
                message = "A sync of a document never uploaded is passed over.",
                company = %company_id,
                document = %e.document_id
            );
            return Ok(Vec::new());
        };
        let settled = matches!(document.sync_state.as_str(), "synced" | "failed");
        if (settled && document.state_by != Some(me)) || e.attempt < document.attempts {
            // Synced or given up by another request, or an older attempt: nothing to do.
            return Ok(Vec::new());
        }
        let job = ledger::job(company.shard, company_id, &document.job_id)
            .await?
            .expect("a stored document's job is stored");
        let started = Instant::now();
        let mut events = Vec::new();
        let attempt = self
            .sync_into(company, &job, &document, &e.meta, &mut events)
            .await;
        let error = match attempt {
            Ok(notebook) => {
                let notebook_id = notebook.unwrap_or_default();
                ledger::set_sync_state(
                    company.shard,
                    company_id,
                    &document.document_id,
                    e.attempt,
                    SyncState::Synced {
                        notebook_id: &notebook_id,
                    },
                    me,
                )
                .await?;
                if job.tier == "recreating" {
                    crate::pools::promote_if_synced(company.shard, company_id, &job.job_id).await?;
                }
                events.push(Event::DocumentSynced(DocumentSynced {
                    meta: Meta::caused_by(&e.meta),
                    document_id: document.document_id.clone(),
                    job_id: document.job_id.clone(),
                    notebook_id,
                    attempt: e.attempt,
                    pages_indexed: document.pages.len() as i32,
                    duration_ms: started.elapsed().as_millis() as i64,
                }));
                return Ok(events);
            }
            // The notebook service failed: the document's attempt failed.
            Err(Error::Service(error)) => error,
            // Anything else (a database): the step is tried again.
            Err(error) => return Err(error),
        };
        let notebook_id = job.notebook_id.clone().unwrap_or_default();
        events.extend(
            self.sync_failed(company, &document, e, error, notebook_id)
                .await?,
        );
        Ok(events)
    }

    /// The calls of one sync: the job's notebook ensured, the document added as a source (hot
    /// or re-created jobs), its chunks embedded; the notebook it is a source of.
    async fn sync_into(
        &self,
        company: &Company<'_>,
        job: &Job,
        document: &ledger::Document,
        cause: &Meta,
        events: &mut Vec<Event>,
    ) -> Result<Option<String>, Error> {
        let (notebook, created) = self.ensure_own_notebook(company, job, cause).await?;
        events.extend(created);
        let target = match (job.tier.as_str(), notebook) {
            ("hot" | "recreating", Some(notebook)) => Some(notebook),
            ("hot" | "recreating", None) => {
                return Err(Error::Service(CallError::NotReady {
                    notebook: job.notebook_id.clone().unwrap_or_default(),
                    message: "the job's notebook is still being created".into(),
                }))
            }
            // Warm or cold: RAG answers from the embeddings alone.
            _ => None,
        };
        if let Some(notebook) = &target {
            let text = document.pages.join("\n\n");
            self.service
                .put_source(
                    &notebook.cloud_project_id,
                    &notebook.notebook_id,
                    &document.document_id,
                    &document.title,
                    &text,
                )
                .await?;
        }
        let chunks = crate::chunk::chunks(&document.pages, self.sync.chunk_max_chars);
        if !chunks.is_empty() {
            let embeddings = self.service.embed(&chunks).await?;
            ledger::store_embeddings(
                company.shard,
                company.home.company,
                &document.job_id,
                &document.document_id,
                &chunks,
                &embeddings.vectors,
            )
            .await?;
        }
        Ok(target.map(|n| n.notebook_id))
    }

    /// A failed attempt: recorded, `DocumentSyncFailed`, and while another may succeed the
    /// timer of the next attempt.
    async fn sync_failed(
        &self,
        company: &Company<'_>,
        document: &ledger::Document,
        e: &DocumentSyncRequested,
        error: CallError,
        notebook_id: String,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let reason = error.to_string();
        let retry = error.is_transient() && e.attempt < self.sync.max_attempts;
        let state = if retry {
            SyncState::Pending { error: &reason }
        } else {
            SyncState::Failed { error: &reason }
        };
        ledger::set_sync_state(
            company.shard,
            company_id,
            &document.document_id,
            e.attempt,
            state,
            e.meta.event_id,
        )
        .await?;
        let reason = if error.is_transient() && !retry {
            format!("gave up after {} attempts: {reason}", e.attempt)
        } else {
            reason
        };
        tracing::warn!(
            message = "A document sync attempt failed.",
            company = %company_id,
            document = %document.document_id,
            attempt = e.attempt,
            retry,
            %reason
        );
        let mut events = vec![Event::DocumentSyncFailed(DocumentSyncFailed {
            meta: Meta::caused_by(&e.meta),
            document_id: document.document_id.clone(),
            job_id: document.job_id.clone(),
            notebook_id: notebook_id.clone(),
            attempt: e.attempt,
            reason,
            retryable: retry,
        })];
        if retry {
            let next = Event::DocumentSyncRequested(DocumentSyncRequested {
                meta: Meta::caused_by(&e.meta),
                document_id: document.document_id.clone(),
                job_id: document.job_id.clone(),
                notebook_id,
                attempt: e.attempt + 1,
            });
            let delay = self.sync.retry_delay(e.attempt);
            let due = Utc::now()
                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
            events.push(timer(
                format!("sync/{}/{}", document.document_id, e.attempt + 1),
                due,
                &next,
                &e.meta,
            )?);
        }
        Ok(events)
    }
}

impl SyncOptions {
    /// The wait before attempt `attempt + 1`: the first delay, doubled per attempt, at most the
    /// longest.
    pub fn retry_delay(&self, attempt: i32) -> Duration {
        let doublings = attempt.saturating_sub(1).clamp(0, 30) as u32;
        let ms = self
            .retry_min_delay_ms
            .saturating_mul(1u64 << doublings)
            .min(self.retry_max_delay_ms);
        Duration::from_millis(ms)
    }
}

/// A timer publishing `event` at `due`, scheduled with the step's outputs.
pub(crate) fn timer(
    id: String,
    due: chrono::DateTime<Utc>,
    event: &Event,
    cause: &Meta,
) -> Result<Event, Error> {
    TimerScheduled::to_publish(id, due, event, cause)
        .map(Event::TimerScheduled)
        .map_err(|source| Error::Encode {
            company: cause.company_id,
            source,
        })
}
