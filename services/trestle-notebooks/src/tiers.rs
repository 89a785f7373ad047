//! The tier transitions of a job (seed: hot → warm → cold, and back on demand): completion
//! schedules them as durable timers, a timer's `JobTierDue` carries each out, a reopening
//! cancels them and gives the job a notebook of its own again.
//!
//! Each transition is idempotent: every call it makes is (ids are ours), and the rows say which
//! record's step did what (`tier_by`, `ready_by`, `deleted_by`), so a redone step makes the
//! same change and publishes the same events, and a step of another record passes over it.

use chrono::Utc;
use trestle_events::{
    DocumentSyncRequested, Event, JobCompleted, JobNotebookRequested, JobReopened, JobTierDue,
    Meta, NotebookArchived, NotebookCreated, NotebookDemoted, NotebookPurpose, NotebookTier,
    TimerCancelled,
};

use crate::error::Error;
use crate::ledger::{self, Job};
use crate::placement;
use crate::pools::{self, Choice};
use crate::steps::{timer, Company, Steps};

fn warm_timer(job: &str, completion: uuid::Uuid) -> String {
    format!("warm/{job}/{completion}")
}

fn cold_timer(job: &str, completion: uuid::Uuid) -> String {
    format!("cold/{job}/{completion}")
}

impl Steps {
    /// The job's row; a job whose first event this is gets created (with its notebook).
    async fn job_for(
        &self,
        company: &Company<'_>,
        job_id: &str,
        cause: &Meta,
    ) -> Result<(Job, Vec<Event>), Error> {
        let company_id = company.home.company;
        if let Some(job) = ledger::job(company.shard, company_id, job_id).await? {
            return Ok((job, Vec::new()));
        }
        let job = ledger::ensure_job(company.shard, company_id, job_id, job_id, cause.occurred_at)
            .await?;
        let (_, events) = self.ensure_own_notebook(company, &job, cause).await?;
        Ok((job, events))
    }

    /// A completion: the job is completed, and its demotions are scheduled — warm after the
    /// warm delay, cold after the cold delay, both from the completion's time.
    pub(crate) async fn job_completed(
        &self,
        company: &Company<'_>,
        e: &JobCompleted,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let (job, mut events) = self.job_for(company, &e.job_id, &e.meta).await?;
        if job.status == "completed" && job.completion_id != Some(e.meta.event_id) {
            tracing::info!(
                message = "A completion of a job completed already is passed over; its first completion's timers stay.",
                company = %company_id,
                job = %e.job_id
            );
            return Ok(events);
        }
        let completion = Some((e.meta.event_id, e.meta.occurred_at));
        ledger::set_job_status(company.shard, company_id, &e.job_id, completion).await?;
        events.extend(self.demotions(&e.job_id, &e.meta)?);
        Ok(events)
    }

    /// The timers of a job's demotions following `completion` (a completion, or a request for
    /// a completed job's notebook): warm after the warm delay, cold after the cold delay, both
    /// from its time.
    fn demotions(&self, job_id: &str, completion: &Meta) -> Result<Vec<Event>, Error> {
        let at = completion.occurred_at;
        let me = completion.event_id;
        let mut events = Vec::new();
        for (tier, id, due) in [
            (
                NotebookTier::Warm,
                warm_timer(job_id, me),
                at + self.tiers.warm_after(),
            ),
            (
                NotebookTier::Cold,
                cold_timer(job_id, me),
                at + self.tiers.cold_after(),
            ),
        ] {
            let due_event = Event::JobTierDue(JobTierDue {
                meta: Meta::caused_by(completion),
                job_id: job_id.to_owned(),
                to_tier: tier,
                cause_id: me,
            });
            events.push(timer(id, due, &due_event, completion)?);
        }
        Ok(events)
    }

    /// The pending demotions of `completion` cancelled.
    fn cancel_demotions(job_id: &str, completion: uuid::Uuid, cause: &Meta) -> Vec<Event> {
        [
            warm_timer(job_id, completion),
            cold_timer(job_id, completion),
        ]
        .into_iter()
        .map(|timer_id| {
            Event::TimerCancelled(TimerCancelled {
                meta: Meta::caused_by(cause),
                timer_id,
            })
        })
        .collect()
    }

    /// A completed job's notebook asked for (`POST /v1/jobs/{id}/notebook`): a warm or cold
    /// job gets a notebook of its own again, as a reopening would, but stays completed — its
    /// demotions start over from this request (the earlier ones are cancelled). A job with a
    /// notebook of its own (active, hot, being re-created) is passed over.
    pub(crate) async fn notebook_requested(
        &self,
        company: &Company<'_>,
        e: &JobNotebookRequested,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let me = e.meta.event_id;
        let (job, mut events) = self.job_for(company, &e.job_id, &e.meta).await?;
        if job.reopened_by != Some(me) {
            if job.status != "completed" || !matches!(job.tier.as_str(), "warm" | "cold") {
                tracing::info!(
                    message = "A notebook asked for a job that has one of its own is passed over.",
                    company = %company_id,
                    job = %e.job_id,
                    status = %job.status,
                    tier = %job.tier
                );
                return Ok(events);
            }
            // The request becomes the completion the job's demotions follow. (A step redone
            // after this finds the earlier completion gone, and its timers pass over when
            // they come due, as they no longer match.)
            if let Some(earlier) = job.completion_id.filter(|c| *c != me) {
                events.extend(Self::cancel_demotions(&e.job_id, earlier, &e.meta));
            }
            let completion = Some((me, e.meta.occurred_at));
            ledger::set_job_status(company.shard, company_id, &e.job_id, completion).await?;
        }
        events.extend(self.demotions(&e.job_id, &e.meta)?);
        events.extend(self.recreate(company, &e.job_id, me, &e.meta).await?);
        Ok(events)
    }

    /// A reopening: the job is active again, its pending demotions are cancelled, and a job
    /// without a notebook of its own (warm or cold) gets one again.
    pub(crate) async fn job_reopened(
        &self,
        company: &Company<'_>,
        e: &JobReopened,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let (job, mut events) = self.job_for(company, &e.job_id, &e.meta).await?;
        if job.status != "completed" && job.reopened_by != Some(e.meta.event_id) {
            return Ok(events); // not completed: nothing to reopen
        }
        let job = pools::reopen(company.shard, company_id, &e.job_id, e.meta.event_id).await?;
        if let Some(completion) = job.completion_id {
            events.extend(Self::cancel_demotions(&e.job_id, completion, &e.meta));
        }
        events.extend(
            self.recreate(company, &e.job_id, e.meta.event_id, &e.meta)
                .await?,
        );
        Ok(events)
    }

    /// Re-creates the job's own notebook for reopening `reopen`: started if the job has none,
    /// finished once the provider has it ready (it leaves its warm pool, its documents are
    /// synced into the new notebook), else looked at again by a timer.
    async fn recreate(
        &self,
        company: &Company<'_>,
        job_id: &str,
        reopen: uuid::Uuid,
        cause: &Meta,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let me = cause.event_id;
        let Some(mut job) = ledger::job(company.shard, company_id, job_id).await? else {
            return Ok(Vec::new());
        };
        if matches!(job.tier.as_str(), "warm" | "cold") {
            job = pools::start_recreation(company.shard, company_id, job_id, reopen).await?;
        }
        if job.tier != "recreating" {
            return Ok(Vec::new());
        }
        let (notebook, mut events) = self.ensure_own_notebook(company, &job, cause).await?;
        let Some(notebook) = notebook else {
            let again = Event::JobTierDue(JobTierDue {
                meta: Meta::caused_by(cause),
                job_id: job_id.to_owned(),
                to_tier: NotebookTier::Hot,
                cause_id: reopen,
            });
            let due = Utc::now() + self.tiers.recheck();
            events.push(timer(format!("hot/{job_id}/{me}"), due, &again, cause)?);
            return Ok(events);
        };
        if notebook.ready_by != Some(me) {
            return Ok(events); // finished by the step that saw it ready
        }
        let pool = job.pool_notebook_id.clone();
        pools::set_tier(
            company.shard,
            company_id,
            &job,
            "recreating",
            job.notebook_id.as_deref(),
            true,
            me,
        )
        .await?;
        if let Some(pool) = pool {
            if pools::live_jobs(company.shard, company_id, &pool).await? == 0 {
                events.extend(
                    self.delete_notebook(company, &pool, None, "all_jobs_left", cause)
                        .await?,
                );
            }
        }
        events.extend(self.resync_all(company, &job, cause).await?);
        Ok(events)
    }

    /// A timer came due: the transition it names, if what caused it still holds.
    pub(crate) async fn tier_due(
        &self,
        company: &Company<'_>,
        e: &JobTierDue,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let Some(job) = ledger::job(company.shard, company_id, &e.job_id).await? else {
            return Ok(Vec::new());
        };
        let me = e.meta.event_id;
        let current = match e.to_tier {
            NotebookTier::Warm | NotebookTier::Cold => {
                job.status == "completed" && job.completion_id == Some(e.cause_id)
            }
            _ => job.reopened_by == Some(e.cause_id) && job.tier == "recreating",
        };
        if !current {
            tracing::info!(
                message = "A tier transition of an earlier completion or reopening is passed over.",
                company = %company_id,
                job = %e.job_id,
                to = e.to_tier.as_str()
            );
            return Ok(Vec::new());
        }
        match e.to_tier {
            NotebookTier::Warm => match job.tier.as_str() {
                "hot" => self.to_warm(company, &job, e).await,
                "warm" if job.tier_by == Some(me) => self.to_warm(company, &job, e).await,
                _ => Ok(Vec::new()),
            },
            NotebookTier::Cold => match job.tier.as_str() {
                "hot" | "warm" => self.to_cold(company, &job, &e.meta).await,
                "cold" if job.tier_by == Some(me) => self.to_cold(company, &job, &e.meta).await,
                _ => Ok(Vec::new()),
            },
            _ => self.recreate(company, &e.job_id, e.cause_id, &e.meta).await,
        }
    }

    /// Hot → warm: the job's documents become sources of a warm pool of its company (at most
    /// `max_jobs` jobs and `max_sources` sources), it answers from there, and its own notebook
    /// is deleted. A job with more documents than a pool takes goes cold instead.
    async fn to_warm(
        &self,
        company: &Company<'_>,
        job: &Job,
        e: &JobTierDue,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let me = e.meta.event_id;
        let documents = pools::synced_documents(company.shard, company_id, &job.job_id).await?;
        let count = documents.len() as i32;
        if count > self.tiers.warm_pool_max_sources {
            tracing::info!(
                message = "A job with more documents than a warm pool takes goes cold.",
                company = %company_id,
                job = %job.job_id,
                documents = count
            );
            return self.to_cold(company, job, &e.meta).await;
        }
        let pool = self.warm_pool_for(company, job, count, me).await?;
        let mut events = Vec::new();
        let title = format!("Warm pool {}", pool.notebook_id);
        let Some(pool) = self
            .create_at_provider(company, pool, &title, &e.meta)
            .await?
        else {
            // The provider is still setting the pool up: look again in a while.
            let again = Event::JobTierDue(JobTierDue {
                meta: Meta::caused_by(&e.meta),
                ..e.clone()
            });
            let due = Utc::now() + self.tiers.recheck();
            events.push(timer(
                format!("warm/{}/{}/{me}", job.job_id, e.cause_id),
                due,
                &again,
                &e.meta,
            )?);
            return Ok(events);
        };
        if pool.ready_by == Some(me) {
            events.push(Event::NotebookCreated(NotebookCreated {
                meta: Meta::caused_by(&e.meta),
                notebook_id: pool.notebook_id.clone(),
                purpose: NotebookPurpose::WarmPool,
                job_id: None,
                cloud_project_id: pool.cloud_project_id.clone(),
                tier: NotebookTier::Warm,
            }));
        }
        for document in &documents {
            let text = document.pages.join("\n\n");
            let (project, id) = (&pool.cloud_project_id, &pool.notebook_id);
            let (source, title) = (&document.document_id, &document.title);
            self.service
                .put_source(project, id, source, title, &text)
                .await?;
        }
        pools::set_tier(
            company.shard,
            company_id,
            job,
            "warm",
            Some(&pool.notebook_id),
            false,
            me,
        )
        .await?;
        let hot = job.notebook_id.clone().unwrap_or_default();
        events.push(Event::NotebookDemoted(NotebookDemoted {
            meta: Meta::caused_by(&e.meta),
            notebook_id: hot.clone(),
            job_id: Some(job.job_id.clone()),
            from_tier: NotebookTier::Hot,
            to_tier: NotebookTier::Warm,
            target_notebook_id: Some(pool.notebook_id.clone()),
            reason: "job_completed".into(),
        }));
        events.extend(
            self.delete_notebook(company, &hot, None, "demoted_to_warm", &e.meta)
                .await?,
        );
        Ok(events)
    }

    /// The warm pool the job goes to: chosen before, an open one with room, or a new one placed
    /// like any notebook.
    async fn warm_pool_for(
        &self,
        company: &Company<'_>,
        job: &Job,
        count: i32,
        me: uuid::Uuid,
    ) -> Result<ledger::Notebook, Error> {
        let company_id = company.home.company;
        let (max_jobs, max_sources) = (
            self.tiers.warm_pool_max_jobs,
            self.tiers.warm_pool_max_sources,
        );
        loop {
            let choice = pools::choose(
                company.shard,
                company_id,
                &job.job_id,
                count,
                max_jobs,
                max_sources,
            )
            .await?;
            match choice {
                Choice::In(pool) => return Ok(pool),
                Choice::New(id) => {
                    let project = placement::place(&self.control, &id, &company.home, &[]).await?;
                    let opening = pools::Opening {
                        id: &id,
                        project: &project,
                        documents: count,
                        max_jobs,
                        max_sources,
                    };
                    pools::open(company.shard, company_id, &job.job_id, &opening, me).await?;
                }
            }
        }
    }

    /// → cold: the job's notebook goes (its own, or its place in a warm pool; a pool whose
    /// jobs are all cold is deleted), its embeddings stay and answer by RAG.
    async fn to_cold(
        &self,
        company: &Company<'_>,
        job: &Job,
        cause: &Meta,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let me = cause.event_id;
        let mut events = Vec::new();
        let from = if job.tier == "cold" {
            // Redone: the tier it came from is the one it left; a pool says warm.
            if job.pool_notebook_id.is_some() {
                NotebookTier::Warm
            } else {
                NotebookTier::Hot
            }
        } else if job.tier == "warm" {
            NotebookTier::Warm
        } else {
            NotebookTier::Hot
        };
        let pool = job.pool_notebook_id.clone();
        pools::set_tier(company.shard, company_id, job, "cold", None, true, me).await?;
        events.push(Event::NotebookDemoted(NotebookDemoted {
            meta: Meta::caused_by(cause),
            notebook_id: job
                .notebook_id
                .clone()
                .or_else(|| pool.clone())
                .unwrap_or_default(),
            job_id: Some(job.job_id.clone()),
            from_tier: from,
            to_tier: NotebookTier::Cold,
            target_notebook_id: None,
            reason: "completed_6_months_ago".into(),
        }));
        match (from, pool) {
            (NotebookTier::Warm, Some(pool)) => {
                if pools::live_jobs(company.shard, company_id, &pool).await? == 0 {
                    events.extend(
                        self.delete_notebook(company, &pool, None, "all_jobs_cold", cause)
                            .await?,
                    );
                }
            }
            _ => {
                if let Some(own) = &job.notebook_id {
                    let job_id = Some(job.job_id.clone());
                    events.extend(
                        self.delete_notebook(company, own, job_id, "job_cold", cause)
                            .await?,
                    );
                }
            }
        }
        Ok(events)
    }

    /// Deletes a notebook at the provider and frees its place: `NotebookArchived` if this
    /// record's step is the one that deleted it.
    async fn delete_notebook(
        &self,
        company: &Company<'_>,
        id: &str,
        job_id: Option<String>,
        reason: &str,
        cause: &Meta,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let Some(notebook) = ledger::notebook(company.shard, company_id, id).await? else {
            return Ok(Vec::new());
        };
        let mine = if notebook.state == "deleted" {
            // Deleted before: by this record's step (redone) or by another's.
            notebook.deleted_by == Some(cause.event_id)
        } else {
            self.service
                .delete_notebook(&notebook.cloud_project_id, id)
                .await?;
            pools::notebook_deleted(company.shard, company_id, id, cause.event_id).await?
        };
        placement::release(&self.control, id, company_id).await?;
        if !mine {
            return Ok(Vec::new());
        }
        Ok(vec![Event::NotebookArchived(NotebookArchived {
            meta: Meta::caused_by(cause),
            notebook_id: id.to_owned(),
            job_id,
            cloud_project_id: notebook.cloud_project_id,
            embeddings_kept: true,
            reason: reason.into(),
        })])
    }

    /// The sync requests of every document of a job whose notebook was re-created.
    pub(crate) async fn resync_all(
        &self,
        company: &Company<'_>,
        job: &Job,
        cause: &Meta,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        pools::resync_documents(company.shard, company_id, &job.job_id).await?;
        let documents = pools::all_documents(company.shard, company_id, &job.job_id).await?;
        Ok(documents
            .into_iter()
            .map(|d| {
                Event::DocumentSyncRequested(DocumentSyncRequested {
                    meta: Meta::caused_by(cause),
                    document_id: d.document_id,
                    job_id: d.job_id,
                    notebook_id: job.notebook_id.clone().unwrap_or_default(),
                    attempt: d.attempts + 1,
                })
            })
            .collect())
    }
}
