//! `bench_engine`: the AI request engine's throughput against raw rdkafka consume → produce
//! loops over the same topic, and its fairness — quiet companies' time in queue next to a
//! noisy one beyond capacity, against FIFO and in-partition-order dispatch — all measured in
//! one run on the local stack (see `docs/benchmarks.md`).
//!
//! ```sh
//! cargo run --release -p load --bin bench_engine
//! ```
//!
//! Every phase gets its own topics and consumer groups from the test kit, deleted at the end.
//! Ratios matter more than absolute figures: the machine is shared and noisy, so each ratio
//! compares figures taken in the same run, seconds apart.

mod engine;
mod fairness;
mod progress;
mod raw;
mod throughput;

#[path = "../bench_projector/environment.rs"]
mod environment;

use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use trestle_engine::DispatchMode;
use trestle_kafka::KafkaOptions;
use trestle_testkit::TestTopics;

use crate::environment::Environment;
use crate::fairness::Fairness;
use crate::throughput::{Kind, Throughput};

/// Benchmarks the engine on the local stack (`compose/stack up`).
#[derive(Parser, Clone)]
#[command(version)]
pub struct Args {
    /// Requests published once and processed by each throughput run.
    #[arg(long, default_value_t = 100_000)]
    requests: usize,
    /// Companies the throughput requests are spread over (uniformly), all enterprise.
    #[arg(long, default_value_t = 1_000)]
    companies: usize,
    /// Partitions of the throughput phase's topics.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Runs of each throughput kind (engine and transactional loop in alternating order).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Length of each paced fairness run.
    #[arg(long, default_value_t = 15)]
    fair_secs: u64,
    /// Quiet companies of the fairness runs.
    #[arg(long, default_value_t = 20)]
    quiet: usize,
    /// The noisy company's rate as a multiple of one quiet company's.
    #[arg(long, default_value_t = 20.0)]
    noisy_factor: f64,
    /// Offered load (quiet and noisy together) as a multiple of the nominal capacity.
    #[arg(long, default_value_t = 1.5)]
    overload: f64,
    /// Provider simulator latency of every call (no jitter).
    #[arg(long, default_value_t = 80)]
    provider_latency_ms: u64,
    /// The engine's `scheduler.max_in_flight` in the fairness runs. With 64 slots an enterprise
    /// company's cap (16) is a quarter of them, as in production (128 slots by default); with
    /// as few slots as the cap, the cap cannot protect anyone.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Capacity (requests/s) the offered load is a multiple of [default: measured by a
    /// calibration run].
    #[arg(long)]
    capacity: Option<f64>,
    /// Requests of the calibration run's backlog.
    #[arg(long, default_value_t = 4_000)]
    calibrate_requests: usize,
    /// Partitions of the fairness runs' topics.
    #[arg(long, default_value_t = 6)]
    fair_partitions: i32,
    /// `scheduler.max_buffered_per_partition` of the fairness runs (engine default 1000;
    /// resume at half).
    #[arg(long, default_value_t = 20_000)]
    buffer_per_partition: usize,
    /// `scheduler.max_buffered` of the fairness runs (engine default 10000; resume at half).
    #[arg(long, default_value_t = 50_000)]
    buffer_total: usize,
    /// After the last send, how long a fairness run may take to drain its backlog before the
    /// engine is stopped (unserved quiet requests then count with their wait so far).
    #[arg(long, default_value_t = 15)]
    drain_cap_secs: u64,
    /// Leave out the fair run with the engine's default buffer.
    #[arg(long)]
    skip_default_buffer: bool,
    /// Leave out phase 1 (throughput).
    #[arg(long)]
    skip_throughput: bool,
    /// Leave out phase 2 (fairness).
    #[arg(long)]
    skip_fairness: bool,
    /// Seed of the company ids.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Extra librdkafka property for every client of the benchmark and the engine (repeatable),
    /// e.g. `--librdkafka retry.backoff.ms=10`; for experiments, printed with the figures.
    #[arg(long, value_parser = parse_property)]
    librdkafka: Vec<(String, String)>,
    /// Only delete the topics of earlier runs that were killed (`t.bench_engine_*`), then exit.
    #[arg(long)]
    delete_leftover_topics: bool,
    /// Longest wait for any one throughput run.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Topics created by the run, deleted at its end whatever happened (a panic included).
#[derive(Default, Clone)]
pub struct Resources {
    topics: Arc<Mutex<Vec<TestTopics>>>,
    /// `--librdkafka` properties, added to the options handed out.
    librdkafka: Vec<(String, String)>,
}

impl Resources {
    pub async fn topics(&mut self, name: &str, partitions: i32) -> anyhow::Result<KafkaOptions> {
        let topics = TestTopics::create(name, partitions)
            .await
            .with_context(|| format!("creating the {name} topics"))?;
        let mut options = topics.options.clone();
        options.librdkafka.extend(self.librdkafka.iter().cloned());
        self.topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(topics);
        Ok(options)
    }

    async fn clean_up(self) {
        let topics = std::mem::take(&mut *self.topics.lock().unwrap_or_else(|e| e.into_inner()));
        for t in topics {
            t.delete().await;
        }
    }
}

/// Deletes the topics of earlier runs that could not clean up (killed): every topic named
/// `t.bench_engine_*`.
async fn delete_leftovers() -> anyhow::Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let base = KafkaOptions {
        bootstrap_servers: trestle_testkit::kafka_bootstrap(),
        ..KafkaOptions::default()
    };
    let consumer: BaseConsumer = base.client_config().create().context("creating a client")?;
    let metadata = consumer
        .fetch_metadata(None, std::time::Duration::from_secs(10))
        .context("listing topics")?;
    let mut prefixes: Vec<String> = metadata
        .topics()
        .iter()
        .filter_map(|t| {
            let name = t.name();
            let rest = name.strip_prefix("t.bench_engine_")?;
            let dot = rest.find('.')?;
            Some(name[..("t.bench_engine_".len() + dot + 1)].to_string())
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    for prefix in prefixes {
        eprintln!("==> Deleting the leftover topics {prefix}*");
        let options = KafkaOptions {
            topic_prefix: prefix,
            ..base.clone()
        };
        trestle_kafka::topics::delete(&options, &trestle_kafka::topics::builtin())
            .await
            .context("deleting leftover topics")?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.delete_leftover_topics {
        return delete_leftovers().await;
    }
    anyhow::ensure!(
        args.requests > 0 && args.companies > 0 && args.rounds > 0 && args.quiet > 0,
        "--requests, --companies, --rounds and --quiet must be positive"
    );
    anyhow::ensure!(
        args.provider_latency_ms > 0 && args.max_in_flight > 0 && args.overload > 0.0,
        "--provider-latency-ms, --max-in-flight and --overload must be positive"
    );
    // Logs (the engine's) to stderr: stdout carries the report.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let owner_url = format!(
        "postgres://trestle_owner:trestle_owner@127.0.0.1:{}/postgres",
        trestle_testkit::pg_port()
    );
    let env = Environment::probe(&owner_url).await;
    let started = std::time::Instant::now();
    let resources = Resources {
        librdkafka: args.librdkafka.clone(),
        ..Resources::default()
    };
    // In a task of its own, so that a panic still reaches the clean-up below.
    let task = {
        let (args, mut res) = (args.clone(), resources.clone());
        tokio::spawn(async move { bench(&args, &mut res).await })
    };
    let result = task.await;
    eprintln!("==> Deleting the benchmark's topics");
    resources.clean_up().await;
    let (throughput, fairness) = match result {
        Ok(r) => r?,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => return Err(e).context("joining the benchmark"),
    };
    print(
        &args,
        &env,
        throughput.as_ref(),
        fairness.as_ref(),
        started.elapsed(),
    );
    Ok(())
}

async fn bench(
    args: &Args,
    res: &mut Resources,
) -> anyhow::Result<(Option<Throughput>, Option<Fairness>)> {
    let throughput = if args.skip_throughput {
        None
    } else {
        Some(throughput::phase(args, res).await?)
    };
    let fairness = if args.skip_fairness {
        None
    } else {
        Some(fairness::phase(args, res).await?)
    };
    Ok((throughput, fairness))
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "missed"
    }
}

/// Prints the figures as Markdown, ready for `docs/benchmarks.md`.
fn print(
    args: &Args,
    env: &Environment,
    throughput: Option<&Throughput>,
    fairness: Option<&Fairness>,
    took: std::time::Duration,
) {
    println!();
    println!("## Engine benchmark");
    println!();
    for (label, value) in &env.0 {
        println!("- {label}: {value}");
    }
    println!("- load average at end: {}", environment::load_average());
    println!("- whole run: {:.0} s", took.as_secs_f64());
    for (k, v) in &args.librdkafka {
        println!("- extra librdkafka property (experiment): `{k}={v}`");
    }
    if let Some(t) = throughput {
        print_throughput(args, t);
    }
    if let Some(f) = fairness {
        print_fairness(args, f);
    }
}

fn print_throughput(args: &Args, t: &Throughput) {
    println!();
    println!(
        "### 1. Throughput: {} requests ({} bytes each), {} enterprise companies, {} partitions, {} rounds",
        t.requests, t.request_bytes, t.companies, args.partitions, args.rounds
    );
    println!();
    println!("Requests published once at {:.0}/s.", t.publish_rate);
    println!();
    println!("| run | wall time of each run (start to last commit) | to first commit (each) | records/s, first to last commit (all runs) | blocked committing: share of wall, mean per commit |");
    println!("|---|---:|---:|---:|---:|");
    for runs in &t.runs {
        let walls: Vec<String> = runs
            .runs
            .iter()
            .map(|r| format!("{:.2} s", r.wall().as_secs_f64()))
            .collect();
        let firsts: Vec<String> = runs
            .runs
            .iter()
            .map(|r| {
                r.to_first()
                    .map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
            })
            .collect();
        let committing = if runs.commits.is_empty() {
            "-".to_string()
        } else {
            let secs: f64 = runs.commits.iter().map(|c| c.secs).sum();
            let n: usize = runs.commits.iter().map(|c| c.commits).sum();
            let wall: f64 = runs.runs.iter().map(|r| r.wall().as_secs_f64()).sum();
            format!(
                "{:.0} %, {:.1} ms",
                secs / wall * 100.0,
                secs * 1e3 / n.max(1) as f64
            )
        };
        println!(
            "| {} | {} | {} | {:.0} | {committing} |",
            runs.kind.label(),
            walls.join(", "),
            firsts.join(", "),
            runs.steady_rate()
        );
    }
    println!();
    let engine = t.rate(Kind::Engine);
    let tx = t.rate(Kind::RawTransactional);
    let plain = t.rate(Kind::RawPlain);
    println!("| ratio | value | aim | |");
    println!("|---|---:|---:|---|");
    println!(
        "| engine / raw transactional loop | {:.3} | >= 0.6 | {} |",
        engine / tx,
        verdict(engine / tx >= 0.6)
    );
    let in_flight = t.rate(Kind::RawTransactionalInFlight);
    println!(
        "| engine / raw transactional loop committing with records in flight (context) | {:.3} | | |",
        engine / in_flight
    );
    println!(
        "| engine / raw plain loop (context) | {:.3} | | |",
        engine / plain
    );
    println!(
        "| raw transactional / raw plain loop (context) | {:.3} | | |",
        tx / plain
    );
}

fn print_fairness(args: &Args, f: &Fairness) {
    println!();
    println!(
        "### 2. Fairness: {} quiet companies at {:.1}/s each, one noisy at {:.0}/s ({}x), {} s paced, {} partitions",
        args.quiet, f.quiet_rate, f.noisy_rate, args.noisy_factor, args.fair_secs, args.fair_partitions
    );
    println!();
    println!(
        "Capacity: {} calls in flight x {} ms per call = {:.0}/s nominal; measured {} (calibration: a backlog served in fair mode, raised buffer); offered {:.0}/s ({}x {:.0}/s); the quiet companies alone {:.0}/s ({:.2}x). {} of the quiet companies share the noisy one's partition. All companies enterprise; rate limits and cache off. Raised buffer: max_buffered_per_partition {} (resume {}), max_buffered {} (resume {}); default: 1000 (500), 10000 (5000). Throughput: outcomes finished between {} s and {} s after the first send, per second.",
        args.max_in_flight,
        args.provider_latency_ms,
        f.nominal_capacity,
        f.measured_capacity.map_or("- (given)".into(), |c| format!("{c:.0}/s")),
        f.quiet_rate * args.quiet as f64 + f.noisy_rate,
        args.overload,
        f.capacity,
        f.quiet_rate * args.quiet as f64,
        f.quiet_rate * args.quiet as f64 / f.capacity,
        f.quiet_in_noisy_partition,
        args.buffer_per_partition,
        args.buffer_per_partition / 2,
        args.buffer_total,
        args.buffer_total / 2,
        fairness::WARM_UP_SECS,
        args.fair_secs
    );
    println!();
    println!("| run | sent/s | quiet served / sent | quiet time-in-queue p50 | p99 | max | p99 of the quiet in the noisy partition | throughput, outcomes/s | noisy outcomes/s | drained after last send | provider latency p50 | not completed |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &f.runs {
        println!(
            "| {} | {:.0} | {} / {} | {} | {} | {} | {} ({} requests) | {:.0} | {:.0} | {} | {:.0} ms | {} |",
            m.setup.label,
            m.sent_rate,
            m.quiet_served,
            m.quiet_sent,
            m.p50,
            m.p99,
            m.max,
            m.same_partition.1,
            m.same_partition.0,
            m.throughput,
            m.noisy_rate,
            m.drained_after
                .map_or(format!("not within {} s (stopped)", args.drain_cap_secs), |d| format!("{:.1} s", d.as_secs_f64())),
            m.provider_ms,
            m.not_completed
        );
    }
    let fair_raised = |m: &fairness::Setup| m.dispatch == DispatchMode::Fair && m.raised_buffer;
    let alone = f.find(|s| fair_raised(s) && !s.noisy);
    let fair = f.find(|s| fair_raised(s) && s.noisy);
    let fifo = f.find(|s| s.dispatch == DispatchMode::Fifo);
    println!();
    println!("| ratio | value | aim | |");
    println!("|---|---:|---:|---|");
    if let (Some(alone), Some(fair)) = (alone, fair) {
        let p99 = fair.p99.ms / alone.p99.ms;
        let p50 = fair.p50.ms / alone.p50.ms;
        println!(
            "| quiet p99 time-in-queue, with the noisy company / without (fair) | {p99:.2} | <= 2 | {} |",
            verdict(p99 <= 2.0)
        );
        println!("| quiet p50 time-in-queue, with / without (fair; context) | {p50:.2} | | |");
    }
    if let (Some(fair), Some(fifo)) = (fair, fifo) {
        let r = fair.throughput / fifo.throughput;
        println!(
            "| throughput while backlogged, fair / FIFO | {r:.3} | >= 0.95 | {} |",
            verdict(r >= 0.95)
        );
    }
}
