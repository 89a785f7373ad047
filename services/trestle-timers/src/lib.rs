//! Durable timers for workflows: "in 30 days", "in 6 months", "retry later", retention purges.
//!
//! A workflow schedules a timer by publishing `TimerScheduled` (timer id, due time, and the
//! event to publish then, already encoded) on the `timers` topic — in the same Kafka
//! transaction as its other outputs, so a timer is scheduled exactly when the step's outputs
//! are — and cancels it with `TimerCancelled`. The timer service runs two things:
//!
//! - the `timers` projection (exactly-once, like every projector) folding those events into
//!   the control database's `timers` table: one row per timer, pending ones indexed by due
//!   time, so millions of pending timers cost rows, not memory;
//! - the firer (`firer`), which publishes each due timer's event and marks it fired.
//!
//! Fired once in effect: at-least-once delivery of an event whose `event_id` was fixed at
//! scheduling, so consumers deduplicate a second delivery (only a crash between the ack and the
//! database commit makes one). Never early by the service's clock, which is injectable
//! (`clock`): the wall clock in production, a controllable clock in tests and the demo.

pub mod clock;
mod error;
mod firer;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use clock::{Clock, ClockOptions, ManualClock};
pub use error::Error;

/// Configuration of the timer service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersConfig {
    pub kafka: trestle_kafka::KafkaOptions,
    /// The control database, where the pending timers are.
    pub postgres: trestle_store::PostgresOptions,
    /// Consumer group of the timers projection.
    pub group_id: String,
    pub clock: ClockOptions,
    /// Most timers fired per database transaction.
    pub fire_batch: i64,
    /// How often the clock is looked at when nothing else wakes the firer (a timer fires at
    /// most this late).
    pub poll_interval_ms: u64,
    /// How long the projection waits to fill a batch.
    pub batch_max_wait_ms: u64,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

impl Default for TimersConfig {
    fn default() -> Self {
        TimersConfig {
            kafka: Default::default(),
            postgres: trestle_store::PostgresOptions {
                url: "postgres://trestle_app:trestle_app@127.0.0.1:15432/trestle_control".into(),
                owner_url: "postgres://trestle_owner:trestle_owner@127.0.0.1:15432/trestle_control"
                    .into(),
                ..Default::default()
            },
            group_id: "trestle-timers".into(),
            clock: ClockOptions::default(),
            fire_batch: 500,
            poll_interval_ms: 1000,
            batch_max_wait_ms: 50,
            telemetry: Default::default(),
        }
    }
}

impl TimersConfig {
    /// Start-up checks beyond what deserialization does.
    pub fn validate(&self) -> Result<(), Error> {
        if self.fire_batch < 1 {
            return Err(Error::Config {
                field: "fire_batch",
                reason: "must be at least 1".into(),
            });
        }
        if self.poll_interval_ms == 0 {
            return Err(Error::Config {
                field: "poll_interval_ms",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn projector_config(&self) -> trestle_projector::ProjectorConfig {
        trestle_projector::ProjectorConfig {
            kafka: self.kafka.clone(),
            postgres: self.postgres.clone(),
            group_id: self.group_id.clone(),
            projection: trestle_projector::ProjectionKind::Timers,
            batch_max_wait_ms: self.batch_max_wait_ms,
            telemetry: self.telemetry.clone(),
            ..Default::default()
        }
    }
}

/// Runs the timers projection and the firer on `clock` until `shutdown` resolves.
pub async fn run(
    config: TimersConfig,
    clock: Clock,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    config.validate()?;
    trestle_store::migrate_control(&config.postgres).await?;
    let pool = trestle_store::connect(&config.postgres).await?;
    let producer =
        config
            .kafka
            .producer_config()
            .create()
            .map_err(|source| trestle_kafka::Error::Setup {
                what: "timer producer",
                source,
            })?;
    let firer = firer::Firer {
        pool,
        producer,
        kafka: config.kafka.clone(),
        clock,
        batch: config.fire_batch,
        poll: Duration::from_millis(config.poll_interval_ms),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let projection =
        trestle_projector::run(config.projector_config(), until_stopped(stopped.clone()));
    let firing = firer.run(until_stopped(stopped));
    let mut projection = std::pin::pin!(projection);
    let mut firing = std::pin::pin!(firing);
    let mut shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => {
            let _ = stop.send(true);
            let (projected, ()) = tokio::join!(projection, firing);
            projected.map_err(|e| Error::Projector(Box::new(e)))
        }
        projected = &mut projection => {
            let _ = stop.send(true);
            firing.await;
            projected.map_err(|e| Error::Projector(Box::new(e)))
        }
        () = &mut firing => Ok(()),
    }
}
