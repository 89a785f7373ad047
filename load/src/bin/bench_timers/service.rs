//! The measured phases: the real timer service (`trestle_timers::run`, in this process, on a
//! manual clock) first projects every scheduled timer into the `timers` table with the clock
//! standing still, then, once the clock is moved past every due time, fires them all.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use trestle_kafka::KafkaOptions;
use trestle_timers::{Clock, ManualClock, TimersConfig};

use crate::probe::{self, Rss, TableSize, TopicCount};
use crate::workload::Workload;

/// How often progress is polled (a cheap query, or the target topic's watermarks).
const POLL: Duration = Duration::from_millis(100);
/// How often a progress line is printed.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The projection phase: from `run` to every scheduled timer in the table.
pub(crate) struct Projection {
    pub elapsed: Duration,
    /// From `run` to the first projected batch seen (migrations check, group join, fetch).
    pub to_first: Option<Duration>,
    pub rss: Rss,
    /// The table with every timer pending.
    pub size: TableSize,
}

/// The firing phase: from moving the clock past every due time to every timer fired.
pub(crate) struct Firing {
    pub elapsed: Duration,
    /// From moving the clock to the first fired event seen on the target topic.
    pub to_first: Option<Duration>,
    /// Timers/s in each quarter of the timers (by the fired events on the target topic).
    pub quarters: Vec<f64>,
    pub rss: Rss,
    /// How long after the last timer fired the projection had folded every `TimerFired`
    /// (`None`: not within the timeout).
    pub fired_folded_after: Option<Duration>,
    /// Events on the target topic beyond one per timer (a second delivery).
    pub extra_deliveries: i64,
    /// Timers fired before their due time by the service's clock (must be 0).
    pub early: i64,
    /// The table once every timer has fired (its dead row versions not yet vacuumed).
    pub size: TableSize,
}

/// The timer service running in this process.
pub(crate) struct Running {
    service: JoinHandle<Result<(), trestle_timers::Error>>,
    stop: tokio::sync::oneshot::Sender<()>,
    manual: ManualClock,
    pool: PgPool,
    timers_topic: String,
    n: i64,
    timeout: Duration,
}

/// Starts the service on `config` with a manual clock at the workload's start, and measures
/// until every timer of `workload` (already published) is projected.
pub(crate) async fn project(
    config: TimersConfig,
    workload: &Workload,
    timeout: Duration,
) -> anyhow::Result<(Running, Projection)> {
    let pool = trestle_store::connect(&config.postgres)
        .await
        .context("connecting to the timers database")?;
    let timers_topic = config.kafka.topic("timers");
    let (clock, manual) = Clock::manual(workload.start);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut rss = Rss::start();
    let started = Instant::now();
    let service = tokio::spawn(trestle_timers::run(config, clock, async {
        let _ = stopped.await;
    }));
    let running = Running {
        service,
        stop,
        manual,
        pool,
        timers_topic,
        n: workload.n as i64,
        timeout,
    };
    let mut to_first = None;
    let mut next_line = started + LINE_EVERY;
    loop {
        running.still_running()?;
        // Before the migrations have run, projector_offsets may not exist yet.
        let done = probe::projected(&running.pool, &running.timers_topic)
            .await
            .unwrap_or(0);
        let now = Instant::now();
        let mib = rss.sample() / 1024;
        if to_first.is_none() && done > 0 {
            to_first = Some(now - started);
        }
        if done >= running.n {
            break;
        }
        anyhow::ensure!(
            now - started < timeout,
            "the timers projection applied {done} of {} scheduled timers in {timeout:?}",
            running.n
        );
        if now >= next_line {
            progress("projected", done, running.n, started, now, mib);
            next_line += LINE_EVERY;
        }
        tokio::time::sleep(POLL).await;
    }
    let elapsed = started.elapsed();
    let (pending, fired, cancelled) = probe::states(&running.pool).await?;
    anyhow::ensure!(
        (pending, fired, cancelled) == (running.n, 0, 0),
        "after projecting: {pending} pending, {fired} fired, {cancelled} cancelled timers; expected {} pending",
        running.n
    );
    rss.sample();
    let size = probe::table_size(&running.pool).await?;
    let projection = Projection {
        elapsed,
        to_first,
        rss,
        size,
    };
    Ok((running, projection))
}

impl Running {
    /// Fails if the service stopped on its own (an error: it runs until told to stop).
    fn still_running(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.service.is_finished(),
            "the timer service stopped by itself; see its log above"
        );
        Ok(())
    }

    /// Moves the clock past every due time and measures until every timer has fired, then
    /// until the projection has folded every `TimerFired`; stops the service and checks.
    pub(crate) async fn fire(
        self,
        kafka: &KafkaOptions,
        workload: &Workload,
    ) -> anyhow::Result<Firing> {
        let target = TopicCount::new(kafka, &kafka.topic("notebooks"))?;
        let mut rss = Rss::start();
        let started = Instant::now();
        self.manual.advance(workload.past_all());
        let mut samples: Vec<(Instant, i64)> = Vec::new();
        let mut next_line = started + LINE_EVERY;
        loop {
            self.still_running()?;
            let published = target.records().await?;
            let now = Instant::now();
            let mib = rss.sample() / 1024;
            samples.push((now, published));
            // The last batch is marked fired just after its acks: ask the table then.
            if published >= self.n && probe::pending(&self.pool).await? == 0 {
                break;
            }
            anyhow::ensure!(
                now - started < self.timeout,
                "the timer service fired {published} of {} timers in {:?}",
                self.n,
                self.timeout
            );
            if now >= next_line {
                progress("fired", published, self.n, started, now, mib);
                next_line += LINE_EVERY;
            }
            tokio::time::sleep(POLL).await;
        }
        let done = Instant::now();
        rss.sample();
        let fired_folded_after = self.wait_folded(done).await?;
        let n = self.n;
        let (extra_deliveries, early, size) = self.stop_and_check(&target).await?;
        Ok(Firing {
            elapsed: done - started,
            to_first: samples
                .iter()
                .find(|(_, c)| *c > 0)
                .map(|(at, _)| *at - started),
            quarters: quarters(started, &samples, n),
            rss,
            fired_folded_after,
            extra_deliveries,
            early,
            size,
        })
    }

    /// Waits until the projection has applied the `TimerFired` of every timer too (the topic
    /// then holds one `TimerScheduled` and one `TimerFired` per timer).
    async fn wait_folded(&self, fired: Instant) -> anyhow::Result<Option<Duration>> {
        loop {
            self.still_running()?;
            if probe::projected(&self.pool, &self.timers_topic).await? >= 2 * self.n {
                return Ok(Some(fired.elapsed()));
            }
            if fired.elapsed() > self.timeout {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the service; returns the extra deliveries and early firings, and the table's size.
    async fn stop_and_check(self, target: &TopicCount) -> anyhow::Result<(i64, i64, TableSize)> {
        let _ = self.stop.send(());
        self.service
            .await
            .context("joining the timer service")?
            .context("running the timer service")?;
        let (pending, fired, cancelled) = probe::states(&self.pool).await?;
        anyhow::ensure!(
            (pending, fired, cancelled) == (0, self.n, 0),
            "after firing: {pending} pending, {fired} fired, {cancelled} cancelled timers; expected {} fired",
            self.n
        );
        let early: i64 =
            sqlx::query_scalar("SELECT count(*)::int8 FROM timers WHERE fired_at < due_at")
                .fetch_one(&self.pool)
                .await
                .context("counting early timers")?;
        let extra = target.records().await? - self.n;
        let size = probe::table_size(&self.pool).await?;
        self.pool.close().await;
        Ok((extra, early, size))
    }
}

/// Timers/s in each quarter of `n`, from `(instant, fired so far)` samples.
fn quarters(started: Instant, samples: &[(Instant, i64)], n: i64) -> Vec<f64> {
    let mut rates = Vec::new();
    let mut from = (started, 0i64);
    for q in 1..=4 {
        let target = n * q / 4;
        let Some(&(at, count)) = samples.iter().find(|(_, c)| *c >= target) else {
            break;
        };
        let secs = (at - from.0).as_secs_f64();
        if secs > 0.0 {
            rates.push((count - from.1) as f64 / secs);
        }
        from = (at, count);
    }
    rates
}

fn progress(what: &str, done: i64, n: i64, started: Instant, now: Instant, rss_mib: u64) {
    let secs = (now - started).as_secs_f64();
    eprintln!(
        "    {what} {done} of {n} after {secs:.0} s ({:.0}/s), resident memory {rss_mib} MiB",
        done as f64 / secs
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_rates_divide_each_quarters_timers_by_its_time() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let samples = [
            (at(500), 10),
            (at(1000), 25),
            (at(2000), 50),
            (at(3000), 75),
            (at(5000), 100),
        ];
        let rates = quarters(t0, &samples, 100);
        assert_eq!(rates, vec![25.0, 25.0, 25.0, 12.5]);
    }
}
