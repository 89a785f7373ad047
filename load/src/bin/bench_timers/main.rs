//! `bench_timers`: a million pending durable timers — how fast the timer service projects them
//! into Postgres and fires them, what they cost on disk and that they cost nothing in memory,
//! against a raw binary COPY of the same rows and a raw producer of the same events, all
//! measured in one run on the local stack (see `docs/benchmarks.md`).
//!
//! ```sh
//! cargo run --release -p load --bin bench_timers
//! ```
//!
//! The run gets its own topics and control database from the test kit, dropped at the end
//! (kept with `--keep`). Ratios matter more than absolute figures: the machine is shared and
//! noisy, so each ratio compares figures taken in the same run, minutes apart.

mod copy;
mod probe;
mod raw;
mod report;
mod service;
mod workload;

#[path = "../bench_projector/environment.rs"]
mod environment;

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeZone, Utc};
use clap::Parser;
use trestle_kafka::{EventProducer, KafkaOptions, PUBLISH_WINDOW};
use trestle_testkit::{TestDb, TestTopics};
use trestle_timers::TimersConfig;

use crate::environment::Environment;
use crate::raw::Records;
use crate::report::Report;
use crate::workload::Workload;

/// Benchmarks the timer service on the local stack (`compose/stack up`).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Timers scheduled, projected and fired.
    #[arg(long, default_value_t = 1_000_000)]
    timers: usize,
    /// Companies the timers belong to (drawn uniformly).
    #[arg(long, default_value_t = 10_000)]
    companies: usize,
    /// Timers fired per database transaction [default: the service's, `fire_batch`].
    #[arg(long)]
    fire_batch: Option<i64>,
    /// Partitions of every topic (`topics.toml` gives `timers` 12).
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Due times are spread uniformly over this many days of the manual clock.
    #[arg(long, default_value_t = 30)]
    window_days: i64,
    /// Seed of the companies, timer ids, due times and events.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Longest wait for the projection, and for the firing.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Keep the topics and the database (their names are printed) instead of dropping them.
    #[arg(long)]
    keep: bool,
}

/// Topics and databases of the run, dropped at its end whatever happened (unless kept).
#[derive(Default)]
struct Resources {
    topics: Vec<TestTopics>,
    dbs: Vec<TestDb>,
}

impl Resources {
    async fn topics(&mut self, name: &str, partitions: i32) -> anyhow::Result<KafkaOptions> {
        let topics = TestTopics::create(name, partitions)
            .await
            .with_context(|| format!("creating the {name} topics"))?;
        let options = topics.options.clone();
        self.topics.push(topics);
        Ok(options)
    }

    async fn clean_up(self, keep: bool) {
        if keep {
            for t in self.topics {
                eprintln!("    kept topics {}*", t.options.topic_prefix);
                // Their `Drop` would delete them.
                std::mem::forget(t);
            }
            for db in self.dbs {
                eprintln!("    kept database {}", db.name);
                std::mem::forget(db);
            }
            return;
        }
        for db in self.dbs {
            db.drop_db().await;
        }
        for topics in self.topics {
            topics.delete().await;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.timers > 0 && args.companies > 0 && args.window_days > 0,
        "--timers, --companies and --window-days must be positive"
    );
    // Logs (the service's warnings) to stderr: stdout carries the report.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let mut resources = Resources::default();
    let result = tokio::select! {
        result = bench(&args, &mut resources) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    eprintln!("==> Dropping the benchmark's topics and database");
    resources.clean_up(args.keep).await;
    result
}

async fn bench(args: &Args, res: &mut Resources) -> anyhow::Result<()> {
    let began = Instant::now();
    let rss_at_start_kib = probe::rss_kib();
    let timeout = Duration::from_secs(args.timeout_secs);
    let owner_url = format!(
        "postgres://trestle_owner:trestle_owner@127.0.0.1:{}/postgres",
        trestle_testkit::pg_port()
    );
    let env = Environment::probe(&owner_url).await;
    let defaults = TimersConfig::default();
    let fire_batch = args.fire_batch.unwrap_or(defaults.fire_batch);
    anyhow::ensure!(fire_batch > 0, "--fire-batch must be positive");
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let window = chrono::Duration::days(args.window_days);
    let workload = Workload::new(args.seed, args.companies, args.timers, start, window);

    let kafka = res.topics("bench_timers", args.partitions).await?;
    let raw_kafka = res.topics("bench_timers_raw", args.partitions).await?;
    let db = TestDb::control("bench_timers")
        .await
        .context("creating the control database")?;
    let postgres = db.options.clone();
    res.dbs.push(db);

    let publish_rate = publish(&kafka, &workload).await?;
    eprintln!("==> 1/5 raw binary COPY of the same rows into a copy of `timers`");
    let copy = copy::baseline(&postgres.owner_url, &workload).await?;
    eprintln!("==> 2/5 the timer service projects {} timers", args.timers);
    let config = TimersConfig {
        kafka: kafka.clone(),
        postgres,
        group_id: format!("{}timers", kafka.topic_prefix),
        fire_batch,
        ..defaults
    };
    let (running, projection) = service::project(config, &workload, timeout).await?;
    eprintln!("==> 3/5 the clock moves past every due time: the timer service fires them all");
    let firing = running.fire(&kafka, &workload).await?;
    let batch = fire_batch as usize;
    eprintln!("==> 4/5 raw producer: each timer's event");
    let raw_event = raw::baseline(&raw_kafka, &workload, batch, Records::Event).await?;
    eprintln!("==> 5/5 raw producer: each timer's event and a TimerFired");
    let raw_event_and_fired =
        raw::baseline(&raw_kafka, &workload, batch, Records::EventAndFired).await?;

    Report {
        timers: args.timers,
        companies: args.companies,
        partitions: args.partitions,
        fire_batch,
        window_days: args.window_days,
        env,
        rss_at_start_kib,
        publish_rate,
        copy,
        projection,
        firing,
        raw_event,
        raw_event_and_fired,
        whole_run: began.elapsed(),
    }
    .print();
    Ok(())
}

/// Publishes every timer's `TimerScheduled`, a window at a time (so the run never holds them
/// all); returns the events/s. Checks the topic then holds exactly one record per timer.
async fn publish(kafka: &KafkaOptions, workload: &Workload) -> anyhow::Result<f64> {
    let topic = kafka.topic("timers");
    eprintln!(
        "==> Publishing {} TimerScheduled events to {topic}",
        workload.n
    );
    let producer = EventProducer::new(kafka).context("creating the producer")?;
    let started = Instant::now();
    let mut next_line = started + Duration::from_secs(5);
    for first in (0..workload.n).step_by(PUBLISH_WINDOW) {
        let events = (first..(first + PUBLISH_WINDOW).min(workload.n))
            .map(|i| workload.scheduled(i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        producer
            .publish_all(&events)
            .await
            .context("publishing the TimerScheduled events")?;
        if Instant::now() >= next_line {
            eprintln!(
                "    published {} of {} after {:.0} s",
                first + events.len(),
                workload.n,
                started.elapsed().as_secs_f64()
            );
            next_line += Duration::from_secs(5);
        }
    }
    let rate = workload.n as f64 / started.elapsed().as_secs_f64();
    let _ = tokio::task::spawn_blocking(move || drop(producer)).await;
    let records: i64 = trestle_testkit::end_offsets(kafka, &topic)?
        .iter()
        .map(|(_, end)| end)
        .sum();
    anyhow::ensure!(
        records == workload.n as i64,
        "{topic} holds {records} records, expected {}",
        workload.n
    );
    Ok(rate)
}
