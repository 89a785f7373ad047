//! The notebook workflow on the runtime: which `jobs` records it acts on, their order (one job
//! at a time: the ordering key is the job), and the dispatch of each to its step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use trestle_events::Event;
use trestle_kafka::OwnedRecord;
use trestle_workflow::{Admitted, Workflow};
use uuid::Uuid;

use crate::steps::Steps;

/// What a `jobs` record is to the workflow.
pub enum Item {
    /// A job event or a document upload or sync request: a step to run.
    Step(Box<Event>),
    /// The workflow's own outputs (a sync's outcome): nothing to do, but they keep their place
    /// in the job's order.
    PassOver,
}

/// The notebook workflow.
pub struct Notebooks {
    pub(crate) steps: Steps,
    /// Each company's tier as last read from its routing, for the fair scheduler's weights
    /// (a company not looked up yet counts as starter until its first step).
    tiers: Mutex<HashMap<Uuid, trestle_tiers::Tier>>,
    retry_max_delay: Duration,
}

impl Notebooks {
    pub(crate) fn new(steps: Steps, retry_max_delay: Duration) -> Self {
        Notebooks {
            steps,
            tiers: Mutex::new(HashMap::new()),
            retry_max_delay,
        }
    }
}

/// The job a record concerns.
fn job_of(event: &Event) -> Option<&str> {
    Some(match event {
        Event::JobCreated(e) => &e.job_id,
        Event::JobCompleted(e) => &e.job_id,
        Event::JobReopened(e) => &e.job_id,
        Event::JobTierDue(e) => &e.job_id,
        Event::JobNotebookRequested(e) => &e.job_id,
        Event::KnowledgeBaseRequested(_) => crate::KNOWLEDGE_BASE,
        Event::DocumentAdded(e) => &e.job_id,
        Event::DocumentSyncRequested(e) => &e.job_id,
        Event::DocumentSynced(e) => &e.job_id,
        Event::DocumentSyncFailed(e) => &e.job_id,
        _ => return None,
    })
}

impl Workflow for Notebooks {
    type Item = Item;

    fn admit(&self, record: &OwnedRecord) -> Result<Admitted<Item>, String> {
        let payload = record.payload.as_deref().ok_or("record has no value")?;
        let event = trestle_events::decode(payload).map_err(|e| e.to_string())?;
        let company = event.meta().company_id;
        let expected = trestle_kafka::company_key(&company);
        if record.key.as_deref() != Some(expected.as_bytes()) {
            return Err(format!(
                "record key is not the event's company_id {expected}"
            ));
        }
        let job = job_of(&event)
            .ok_or_else(|| format!("{} does not belong on the jobs topic", event.name()))?;
        if job.is_empty() {
            return Err(format!("{} has an empty job_id", event.name()));
        }
        let ordering_key = Some(format!("{company}/{job}"));
        let item = match event {
            Event::DocumentSynced(_) | Event::DocumentSyncFailed(_) => Item::PassOver,
            event => Item::Step(Box::new(event)),
        };
        let tier = self
            .tiers
            .lock()
            .expect("tier cache")
            .get(&company)
            .copied()
            .unwrap_or(trestle_tiers::Tier::Starter);
        Ok(Admitted {
            company,
            tier,
            ordering_key,
            item,
        })
    }

    async fn step(self: Arc<Self>, item: Arc<Item>) -> Vec<Event> {
        let Item::Step(event) = &*item else {
            return Vec::new();
        };
        // Every step is idempotent; what fails for a while (a database, the company not
        // provisioned yet, no capacity) is tried again until it goes through, keeping the
        // job's order. Failures of the notebook service are the steps' own business.
        let attempt = || self.steps.run(event);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(self.retry_max_delay)
            .without_max_times();
        let company = event.meta().company_id;
        let done = attempt
            .retry(backoff)
            .notify(|error, delay| {
                tracing::warn!(
                    message = "A notebook step cannot go on yet; retrying.",
                    %company,
                    event = event.name(),
                    %error,
                    retry_in_ms = delay.as_millis() as u64
                );
            })
            .await;
        match done {
            Ok(done) => {
                if let Some(tier) = done.tier {
                    self.tiers.lock().expect("tier cache").insert(company, tier);
                }
                done.events
            }
            Err(error) => unreachable!("retried without a limit: {error}"),
        }
    }

    /// A step that panicked (a bug) publishes nothing; the record is logged so an operator
    /// can publish it again once fixed.
    fn panicked(&self, item: &Item) -> Vec<Event> {
        if let Item::Step(event) = item {
            tracing::error!(
                message = "A notebook step failed (a bug); publish the record again once fixed.",
                company = %event.meta().company_id,
                event = event.name(),
                event_id = %event.meta().event_id
            );
        }
        Vec::new()
    }
}
