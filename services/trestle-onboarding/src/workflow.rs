//! The onboarding workflow on the runtime: which `tenants` records it acts on (registrations),
//! and the step that places and provisions a company.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use sqlx::PgPool;
use trestle_events::{
    CloudProjectRegistered, CompanyRegistered, Event, IsolationLevel, KnowledgeBaseRequested, Meta,
    Region, TenantProvisioned, PLATFORM_COMPANY_ID,
};
use trestle_kafka::OwnedRecord;
use trestle_workflow::{Admitted, Workflow};

use crate::placement::{place, Placed, Placement, Registration};
use crate::{OnboardingConfig, ShardOptions};

/// The onboarding workflow: places registered companies and provisions them.
pub struct Onboarding {
    pool: PgPool,
    shards: ShardOptions,
    dedicated_notebook_limit: i32,
    retry_max_delay: Duration,
}

/// What a `tenants` record is to onboarding.
pub enum Item {
    /// A registration to place and provision, with its place in the log.
    Register {
        registered: CompanyRegistered,
        partition: i32,
        offset: i64,
    },
    /// Another lifecycle event (a provisioning, …): nothing to do yet, but it keeps its place
    /// in the company's order.
    PassOver,
}

impl Onboarding {
    pub fn new(pool: PgPool, config: &OnboardingConfig) -> Self {
        Onboarding {
            pool,
            shards: config.shards.clone(),
            dedicated_notebook_limit: config.dedicated_notebook_limit,
            retry_max_delay: Duration::from_millis(config.retry_max_delay_ms),
        }
    }

    /// Places the company (retrying while its region has no usable project or the control
    /// database is unreachable) and returns the events that provision it.
    async fn provision(
        &self,
        registered: &CompanyRegistered,
        (partition, offset): (i32, i64),
    ) -> Vec<Event> {
        let company = registered.meta.company_id;
        let registration = Registration {
            company,
            event_id: registered.meta.event_id,
            partition,
            offset,
            region: registered.region,
            isolation: registered.isolation,
        };
        let attempt = || place(&self.pool, &registration, &self.shards);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(self.retry_max_delay)
            .without_max_times();
        let placed = attempt
            .retry(backoff)
            .notify(|error, delay| {
                tracing::warn!(
                    message = "Cannot place a company yet; retrying.",
                    %company,
                    %error,
                    retry_in_ms = delay.as_millis() as u64
                );
            })
            .await;
        match placed {
            Ok(Placed::Provision(placement)) => self.provisioned(registered, placement),
            Ok(Placed::Duplicate {
                registration_event_id,
            }) => {
                tracing::warn!(
                    message = "A second registration of a company already placed is passed over.",
                    %company,
                    registration = %registered.meta.event_id,
                    placed_by = %registration_event_id
                );
                Vec::new()
            }
            Err(error) => unreachable!("retried without a limit: {error}"),
        }
    }

    fn provisioned(&self, registered: &CompanyRegistered, placement: Placement) -> Vec<Event> {
        let mut events = Vec::new();
        if placement.isolation == IsolationLevel::Dedicated {
            events.push(Event::CloudProjectRegistered(CloudProjectRegistered {
                meta: Meta {
                    company_id: PLATFORM_COMPANY_ID,
                    ..Meta::caused_by(&registered.meta)
                },
                cloud_project_id: placement.cloud_project_id.clone(),
                region: registered.region,
                notebook_limit: self.dedicated_notebook_limit,
                dedicated_company_id: Some(registered.meta.company_id),
            }));
        }
        events.push(Event::TenantProvisioned(TenantProvisioned {
            meta: Meta::caused_by(&registered.meta),
            region: registered.region,
            database_shard: placement.database_shard,
            cloud_project_id: placement.cloud_project_id,
            isolation_level: placement.isolation,
            kb_notebook_id: kb_notebook_id(registered.meta.company_id),
        }));
        // AI initialisation: the notebook workflow creates the knowledge base and seeds it.
        events.push(Event::KnowledgeBaseRequested(KnowledgeBaseRequested {
            meta: Meta::caused_by(&registered.meta),
            notebook_id: kb_notebook_id(registered.meta.company_id),
        }));
        events
    }
}

/// The id of a company's knowledge-base notebook: unique across companies (it starts with the
/// company id), chosen here so the notebook service takes its creation once. Never change this
/// format: the provider knows the notebook by it.
pub fn kb_notebook_id(company: uuid::Uuid) -> String {
    format!("{company}.kb")
}

impl Workflow for Onboarding {
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
        let (tier, item) = match event {
            Event::CompanyRegistered(registered) => {
                let tier = registered.tier.into();
                if registered.region == Region::Unknown {
                    return Err("CompanyRegistered has no known region".into());
                }
                if registered.isolation == IsolationLevel::Dedicated
                    && registered.tier != trestle_events::Tier::Enterprise
                {
                    return Err(format!(
                        "dedicated isolation is for enterprise companies, not {}",
                        registered.tier.as_str()
                    ));
                }
                let item = Item::Register {
                    registered,
                    partition: record.partition,
                    offset: record.offset,
                };
                (tier, item)
            }
            _ => (trestle_tiers::Tier::Starter, Item::PassOver),
        };
        Ok(Admitted {
            company,
            tier,
            ordering_key: Some(expected),
            item,
        })
    }

    async fn step(self: Arc<Self>, item: Arc<Item>) -> Vec<Event> {
        match &*item {
            Item::Register {
                registered,
                partition,
                offset,
            } => self.provision(registered, (*partition, *offset)).await,
            Item::PassOver => Vec::new(),
        }
    }

    /// A placement that panicked (a bug) provisions nothing; the registration is logged for an
    /// operator to publish again once fixed.
    fn panicked(&self, item: &Item) -> Vec<Event> {
        if let Item::Register { registered, .. } = item {
            tracing::error!(
                message = "Placing a company failed (a bug); publish its registration again once fixed.",
                company = %registered.meta.company_id,
                registration = %registered.meta.event_id
            );
        }
        Vec::new()
    }
}
