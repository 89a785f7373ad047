//! The AI request workflow on the workflow runtime: a record of `ai-requests` is admitted as a
//! valid request of a known tenant (or dead-lettered), and its step serves it — ladder, chain,
//! breakers — to its outcome and usage events. Breaker transitions go out as side events in the
//! runtime's next commit.

mod transitions;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use trestle_breaker::Breakers;
use trestle_breaker::Transition;
use trestle_budget::Budgets;
use trestle_events::{AiRequestSubmitted, Event};
use trestle_kafka::OwnedRecord;
use trestle_quota::Quotas;
use trestle_ratelimit::RateLimiter;
use trestle_workflow::{Admitted, Workflow};

use self::transitions::transition_event;
use crate::cache::ResponseCache;
use crate::claims::{Claim, Claims, Owner};
use crate::directory::{Directory, Standing, Tenant};
use crate::intake::validate;
use crate::outcome;
use crate::provider::ProviderClient;
use crate::retention::Retention;
use crate::routing::JobAnswering;
use crate::serve::{serve, Limiters, Services};
use crate::{EngineConfig, Error, Unprovisioned};

/// Runs the engine until `shutdown` resolves; transient failures restart the session with
/// backoff. Needs the multi-threaded tokio runtime (the blocking transaction calls run in
/// `block_in_place`).
pub async fn run(config: EngineConfig, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    config.validate()?;
    let directory = Directory::new(
        Tenant {
            tier: trestle_tiers::Tier::Starter,
            region: config.region,
            cloud_project: config.default_cloud_project.clone(),
            isolation: trestle_events::IsolationLevel::Shared,
            standing: Standing::Unknown,
            shard: None,
        },
        config.price_book.clone(),
    );
    let _follow = directory
        .follow(
            &config.kafka,
            Duration::from_millis(config.directory_catch_up_ms),
        )
        .await?;
    let (transitions_tx, transitions) = unbounded_channel();
    let services = Arc::new(services(&config, &directory, transitions_tx).await?);
    let workflow = Arc::new(AiRequests {
        services,
        unprovisioned: config.unprovisioned,
        provisioning_wait: Duration::from_millis(config.provisioning_wait_ms),
    });
    let side = side_events(transitions);
    trestle_workflow::run(workflow, config.runtime_options(), side, shutdown).await?;
    Ok(())
}

/// The AI request workflow.
struct AiRequests {
    services: Arc<Services>,
    unprovisioned: Unprovisioned,
    provisioning_wait: Duration,
}

/// An admitted request, the tenant it is served as and where its record is (its claim's
/// owner).
struct Request {
    submitted: AiRequestSubmitted,
    tenant: Tenant,
    owner: Owner,
}

impl Workflow for AiRequests {
    type Item = Request;

    fn admit(&self, record: &OwnedRecord) -> Result<Admitted<Request>, String> {
        let submitted = validate(record, &self.services.chains)?;
        let company = submitted.meta.company_id;
        let tenant = self.services.directory.get(&company);
        Ok(Admitted {
            company,
            tier: tenant.tier,
            ordering_key: submitted.ordering_key.clone(),
            item: Request {
                submitted,
                tenant,
                owner: Owner {
                    topic: record.topic.clone(),
                    partition: record.partition,
                    offset: record.offset,
                },
            },
        })
    }

    /// Serves a provisioned company's request whose request_id this record owns; passes over a
    /// duplicate (another record owns its request_id: no events at all) and refuses the
    /// companies not provisioned (after waiting briefly for the directory to read a
    /// provisioning that may just have happened).
    async fn step(self: Arc<Self>, request: Arc<Request>) -> Vec<Event> {
        let submitted = &request.submitted;
        let mut tenant = request.tenant.clone();
        if tenant.standing != Standing::Provisioned && self.unprovisioned == Unprovisioned::Refuse {
            let company = &submitted.meta.company_id;
            let directory = &self.services.directory;
            tenant = directory
                .wait_provisioned(company, self.provisioning_wait)
                .await;
            if tenant.standing != Standing::Provisioned {
                trestle_telemetry::request_refused(tenant.standing.as_str());
                return vec![outcome::unprovisioned(submitted, tenant.standing)];
            }
        }
        let (claims, owner) = (&self.services.claims, &request.owner);
        match claims.claim(tenant.shard, submitted, owner).await {
            Ok(Claim::Owned | Claim::Unchecked) => {}
            Ok(Claim::Duplicate(first)) => {
                tracing::info!(
                    message = "A request_id already owned by another record was passed over.",
                    request_id = %submitted.request_id,
                    partition = owner.partition, offset = owner.offset,
                    first_partition = first.partition, first_offset = first.offset,
                );
                return Vec::new();
            }
            Err(reason) => return vec![outcome::failed(submitted, reason, vec![], true)],
        }
        let mut events = serve(&self.services, submitted, &tenant).await;
        claims.settle(tenant.shard, submitted, owner, &events).await;
        events.extend(self.services.retention.timer_for(submitted));
        events
    }

    /// A request whose task panicked ends as failed, with the internal-error reason (retryable:
    /// its claim on the request_id is given back, on a task of its own).
    fn panicked(&self, request: &Request) -> Vec<Event> {
        tracing::error!(
            message = "A request task failed; its request ends as failed (internal error).",
            request_id = %request.submitted.request_id,
        );
        let claims = self.services.claims.clone();
        let (submitted, owner) = (request.submitted.clone(), request.owner.clone());
        let shard = self
            .services
            .directory
            .get(&submitted.meta.company_id)
            .shard;
        tokio::spawn(async move { claims.release(shard, &submitted, &owner).await });
        vec![outcome::internal_error(&request.submitted)]
    }
}

/// Breaker transitions as `providers` events, for the runtime's next commit.
fn side_events(mut transitions: UnboundedReceiver<Transition>) -> UnboundedReceiver<Event> {
    let (events, side) = unbounded_channel();
    tokio::spawn(async move {
        while let Some(transition) = transitions.recv().await {
            if events.send(transition_event(&transition)).is_err() {
                break;
            }
        }
    });
    side
}

/// What serving needs: one Redis connection (when anything uses it) shared by the rate
/// limiters, the cost limits and the cache; the breakers; the provider client.
async fn services(
    config: &EngineConfig,
    directory: &Directory,
    transitions: UnboundedSender<Transition>,
) -> Result<Services, Error> {
    let redis = if config.uses_redis() {
        Some(config.redis.connect().await.map_err(Error::Redis)?)
    } else {
        None
    };
    let limiters = match (&redis, config.ladder.enabled) {
        (Some(redis), true) => {
            let starting = |what| move |source| Error::RateLimit { what, source };
            let rate = RateLimiter::new(redis.clone(), &config.tiers, config.rate_limit.clone());
            let mut degraded = config.rate_limit.clone();
            degraded.key_scope.push_str("degraded:");
            let degraded = RateLimiter::new(redis.clone(), &config.tiers, degraded);
            Some(Limiters {
                rate: rate.map_err(starting("rate limiter"))?,
                degraded: degraded.map_err(starting("degrade allowance"))?,
            })
        }
        _ => None,
    };
    let budgets = match (&redis, config.cost_limits.enabled) {
        (Some(redis), true) => {
            let options = config.cost_limits.budget.clone();
            let budgets = Budgets::new(redis.clone(), &config.tiers, options);
            Some(budgets.map_err(Error::CostLimits)?)
        }
        _ => None,
    };
    let quotas = match (&redis, config.quotas.enabled) {
        (Some(redis), true) => Some(Quotas::new(redis.clone(), config.quotas.clone())),
        _ => None,
    };
    let shards = (config.shards.iter().enumerate())
        .map(|(shard, options)| {
            trestle_store::connect_lazy(options).map_err(|source| Error::Shard { shard, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Services {
        answering: job_answering(config, &shards)?,
        claims: Claims::new(shards),
        retention: Retention::new(config.retention.clone()),
        client: ProviderClient::new(config.provider.clone()),
        directory: directory.clone(),
        chains: config.chains.clone(),
        breakers: Breakers::new(config.breakers.clone()).map_err(Error::Breakers)?,
        limiters,
        budgets,
        quotas,
        overrides: config.cost_limits.overrides.clone(),
        cache: ResponseCache::new(redis, &config.cache),
        ladder: config.ladder.clone(),
        transitions,
    })
}

/// What routing job questions needs, when shard databases are configured: a pool per shard
/// (connected on first use) and the notebook service at the providers' base URL, with their
/// timeout and retries.
fn job_answering(
    config: &EngineConfig,
    shards: &[sqlx::PgPool],
) -> Result<Option<JobAnswering>, Error> {
    if shards.is_empty() {
        return Ok(None);
    }
    let provider = &config.provider;
    let service = trestle_notebooks::ServiceOptions {
        base_url: provider.base_url.clone(),
        timeout_ms: provider.timeout_ms,
        max_attempts: provider.max_attempts,
        retry_initial_ms: provider.retry_initial_ms,
        embedding_provider: config.rag.embedding_provider.clone(),
        embedding_model: config.rag.embedding_model.clone(),
    };
    let service =
        trestle_notebooks::client::NotebookService::new(service).map_err(Error::NotebookService)?;
    Ok(Some(JobAnswering {
        shards: shards.to_vec(),
        service,
        rag: config.rag.clone(),
    }))
}
