//! The session loop: poll → fair scheduler → request tasks → one Kafka transaction per commit
//! carrying the finished records' events and each partition's commit point.
//!
//! One task owns the consumer, the scheduler and the producer. Polled records are offered to
//! the scheduler; what it dispatches runs as a tokio task (ladder, chain, breakers); a finished
//! record's events wait in memory until the next commit, which publishes them together with
//! every partition's commit point (watermark + finished-beyond metadata) in one transaction.
//! A failed commit is aborted and retried with the same events; a revoked partition's
//! unpublished events are dropped (its new owner redoes those records: provider calls are
//! at-least-once, outcomes exactly-once).

mod partitions;
mod running;
mod session;
mod transitions;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use trestle_breaker::Breakers;
use trestle_breaker::Transition;
use trestle_budget::Budgets;
use trestle_kafka::{run_sessions, session_backoff, Shutdown};
use trestle_ratelimit::RateLimiter;

use self::session::Session;
use crate::cache::ResponseCache;
use crate::directory::{Directory, Tenant};
use crate::provider::ProviderClient;
use crate::serve::{Limiters, Services};
use crate::{EngineConfig, Error};

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
    // Sessions run one after another; each borrows the transitions for its lifetime.
    let transitions = &tokio::sync::Mutex::new(transitions);
    let (config, directory, services) = (&config, &directory, &services);
    run_sessions(
        shutdown,
        session_backoff(),
        |shutdown: Shutdown| async move {
            let mut transitions = transitions.lock().await;
            let mut session = Session::start(config, services.clone(), directory.clone())?;
            let mut stop = std::pin::pin!(shutdown.requested());
            let result = session.run(&mut stop, &mut transitions).await;
            session.close().await;
            result
        },
    )
    .await;
    Ok(())
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
    Ok(Services {
        client: ProviderClient::new(config.provider.clone()),
        directory: directory.clone(),
        chains: config.chains.clone(),
        breakers: Breakers::new(config.breakers.clone()).map_err(Error::Breakers)?,
        limiters,
        budgets,
        overrides: config.cost_limits.overrides.clone(),
        cache: ResponseCache::new(redis, &config.cache),
        ladder: config.ladder.clone(),
        transitions,
    })
}
