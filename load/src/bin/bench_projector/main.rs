//! `bench_projector`: the usage projector's throughput against a raw binary COPY of the same
//! rows and against itself committing Kafka offsets instead, and its end-to-end latency at
//! half of saturation (and, if it cannot keep that pace, at half of the pace it did keep),
//! all measured in one run on the local stack (see `docs/benchmarks.md`).
//!
//! ```sh
//! cargo run --release -p load --bin bench_projector -- --events 200000 --companies 2000
//! ```
//!
//! Every phase gets its own database (and the latency phase its own topics) from the test
//! kit, all dropped at the end. Ratios matter more than absolute figures: the machine is
//! shared and noisy, so each ratio compares figures taken in the same run, seconds apart.

mod copy;
mod environment;
mod latency;
mod progress;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use sqlx::{Connection, PgConnection};
use trestle_events::{Event, Meter};
use trestle_kafka::{Delivered, EventProducer, KafkaOptions};
use trestle_projector::{OffsetStore, ProjectorConfig};
use trestle_testkit::{fixtures, TestDb, TestTopics};
use uuid::Uuid;

use crate::environment::Environment;
use crate::progress::{Ends, Source};

/// Benchmarks the usage projector on the local stack (`compose/stack up`).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Usage events published once and projected by each throughput phase.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Companies the events are spread over (uniformly at random).
    #[arg(long, default_value_t = 2_000)]
    companies: usize,
    /// Partitions of the usage topic (`topics.toml` has 12).
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Length of the paced latency run.
    #[arg(long, default_value_t = 20)]
    latency_secs: u64,
    /// Events per second of the latency run [default: half the exactly-once rate measured].
    #[arg(long)]
    latency_rate: Option<f64>,
    /// Most records per projector transaction [default: the projector's].
    #[arg(long)]
    batch_max_records: Option<usize>,
    /// How long the projector fills a batch [default: the projector's].
    #[arg(long)]
    batch_max_wait_ms: Option<u64>,
    /// Seed of the company ids and the meter mix.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Runs of the COPY and of each projector mode (the modes in alternating order); each
    /// figure is over all its runs.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Longest wait for any one phase.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
}

/// Topics and databases created by the run, dropped at its end whatever happened.
#[derive(Default)]
struct Resources {
    topics: Vec<TestTopics>,
    dbs: Vec<TestDb>,
}

impl Resources {
    async fn db(&mut self, name: &str) -> anyhow::Result<trestle_store::PostgresOptions> {
        let db = TestDb::shard(name)
            .await
            .with_context(|| format!("creating the {name} database"))?;
        let options = db.options.clone();
        self.dbs.push(db);
        Ok(options)
    }

    async fn topics(&mut self, name: &str, partitions: i32) -> anyhow::Result<KafkaOptions> {
        let topics = TestTopics::create(name, partitions)
            .await
            .with_context(|| format!("creating the {name} topics"))?;
        let options = topics.options.clone();
        self.topics.push(topics);
        Ok(options)
    }

    async fn clean_up(self) {
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
        args.events > 0 && args.companies > 0 && args.rounds > 0,
        "--events, --companies and --rounds must be positive"
    );
    // Logs (the projector's warnings, say) to stderr: stdout carries the report.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let mut resources = Resources::default();
    let result = bench(&args, &mut resources).await;
    eprintln!("==> Dropping the benchmark's databases and topics");
    resources.clean_up().await;
    result
}

/// One projector throughput phase.
struct Projected {
    elapsed: Duration,
    /// From start to the first progress seen (migrations, group join, first batch).
    first_progress: Option<Duration>,
    /// Rate between the first progress seen and the end.
    steady_rate: Option<f64>,
    /// (company, batch) groups per record; see [`usage_upserts`].
    groups_per_record: f64,
}

/// The runs of one projector mode.
#[derive(Default)]
struct Mode {
    runs: Vec<Projected>,
}

impl Mode {
    /// Rows per second over all runs (`n` rows each): total rows over total wall time.
    fn rate(&self, n: f64) -> f64 {
        let secs: f64 = self.runs.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        n * self.runs.len() as f64 / secs
    }

    fn mean(&self, f: impl Fn(&Projected) -> Option<f64>) -> Option<f64> {
        let values: Vec<f64> = self.runs.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// One paced latency run and the projector's (company, batch) groups per record during it.
struct LatencyRun {
    label: &'static str,
    lat: latency::Latency,
    groups_per_record: f64,
}

async fn bench(args: &Args, res: &mut Resources) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let kafka = res.topics("bench_projector", args.partitions).await?;
    let topic = kafka.topic("usage");
    let owner_url = format!(
        "postgres://trestle_owner:trestle_owner@127.0.0.1:{}/postgres",
        trestle_testkit::pg_port()
    );
    let env = Environment::probe(&owner_url).await;
    let defaults = ProjectorConfig::default();
    let batch_records = args.batch_max_records.unwrap_or(defaults.batch_max_records);
    let batch_wait_ms = args.batch_max_wait_ms.unwrap_or(defaults.batch_max_wait_ms);

    let mut rng = fastrand::Rng::with_seed(args.seed);
    let companies: Vec<Uuid> = (0..args.companies).map(|_| company_id(&mut rng)).collect();
    let events = workload(&mut rng, &companies, args.events);
    let expected = expected(&events);

    let (publish_rate, delivered, ends) = publish(&kafka, &topic, &events).await?;
    let copy_times = copy_phase(args, res, &events, &delivered, &topic).await?;
    drop(delivered);

    // Rounds alternate the order (A B, B A, ...) so drift on the shared machine (a checkpoint,
    // someone's build) does not always land on the same mode.
    let mut exactly_once = Mode::default();
    let mut kafka_after = Mode::default();
    for round in 0..args.rounds {
        let mut order = [OffsetStore::Postgres, OffsetStore::KafkaAfterWrite];
        if round % 2 == 1 {
            order.reverse();
        }
        for offsets in order {
            let (name, what, mode) = match offsets {
                OffsetStore::Postgres => (
                    "bench_exactly_once",
                    "offsets in Postgres (exactly once)",
                    &mut exactly_once,
                ),
                OffsetStore::KafkaAfterWrite => (
                    "bench_kafka_after_write",
                    "Kafka offsets committed after the DB write",
                    &mut kafka_after,
                ),
            };
            eprintln!(
                "==> 2-3/4 round {}/{}: projector, {what}, from offset 0",
                round + 1,
                args.rounds
            );
            let config = ProjectorConfig {
                kafka: kafka.clone(),
                group_id: format!("{}{name}_{round}", kafka.topic_prefix),
                batch_max_records: batch_records,
                batch_max_wait_ms: batch_wait_ms,
                offsets,
                ..ProjectorConfig::default()
            };
            let run = project(res, name, config, &topic, &ends, &expected, timeout).await?;
            mode.runs.push(run);
        }
    }

    let n = events.len() as f64;
    let rate = args.latency_rate.unwrap_or(exactly_once.rate(n) / 2.0);
    anyhow::ensure!(rate > 0.0, "--latency-rate must be positive");
    eprintln!(
        "==> 4/4 end-to-end latency at {rate:.0} events/s for {} s",
        args.latency_secs
    );
    drop(events);
    let lat = latency_phase(
        res,
        args,
        &companies,
        &mut rng,
        rate,
        batch_records,
        batch_wait_ms,
    )
    .await?;

    let report = Report {
        args,
        env,
        publish_rate,
        copy_rate: n * copy_times.len() as f64 / copy_times.iter().sum::<Duration>().as_secs_f64(),
        copy_times,
        exactly_once,
        kafka_after,
        lat,
        batch_records,
        batch_wait_ms,
    };
    report.print();
    Ok(())
}

/// Publishes the workload; returns the producer's rate, where each event landed and the
/// topic's end offsets.
async fn publish(
    kafka: &KafkaOptions,
    topic: &str,
    events: &[Event],
) -> anyhow::Result<(f64, Vec<Delivered>, Ends)> {
    eprintln!("==> Publishing {} usage events to {topic}", events.len());
    let producer = EventProducer::new(kafka).context("creating the producer")?;
    let started = Instant::now();
    let delivered = producer
        .publish_all(events)
        .await
        .context("publishing the usage events")?;
    let publish_rate = events.len() as f64 / started.elapsed().as_secs_f64();
    let ends: Ends = trestle_testkit::end_offsets(kafka, topic)?
        .into_iter()
        .collect();
    anyhow::ensure!(
        ends.values().sum::<i64>() == events.len() as i64,
        "{topic} holds {} records, expected {}",
        ends.values().sum::<i64>(),
        events.len()
    );
    Ok((publish_rate, delivered, ends))
}

/// The baseline: the same usage_records rows by raw binary COPY, once per round, each into a
/// fresh database.
async fn copy_phase(
    args: &Args,
    res: &mut Resources,
    events: &[Event],
    delivered: &[Delivered],
    topic: &str,
) -> anyhow::Result<Vec<Duration>> {
    eprintln!("==> 1/4 raw binary COPY of the same usage_records rows");
    let rows: Vec<copy::Row> = events
        .iter()
        .zip(delivered)
        .map(|(e, d)| copy_row(e, d))
        .collect();
    let mut copy_times = Vec::new();
    for _ in 0..args.rounds {
        let copy_db = res.db("bench_copy").await?;
        copy_times.push(copy::baseline(&copy_db.owner_url, &rows, topic).await?);
    }
    Ok(copy_times)
}

/// Runs the real projector from offset 0 on a fresh database until its progress (stored where
/// `config.offsets` says) reaches the end of the topic, then checks every company's totals.
async fn project(
    res: &mut Resources,
    name: &str,
    mut config: ProjectorConfig,
    topic: &str,
    ends: &Ends,
    expected: &BTreeMap<Uuid, Totals>,
    timeout: Duration,
) -> anyhow::Result<Projected> {
    config.postgres = res.db(name).await?;
    let owner_url = config.postgres.owner_url.clone();
    let pool = trestle_store::connect(&config.postgres).await?;
    let source = match config.offsets {
        OffsetStore::Postgres => Source::Postgres {
            pool: pool.clone(),
            topic: topic.to_string(),
        },
        OffsetStore::KafkaAfterWrite => Source::kafka(&config.kafka, &config.group_id, topic)?,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let start = Instant::now();
    let projector = tokio::spawn(trestle_projector::run(config, async {
        let _ = stopped.await;
    }));
    let finished = progress::wait_for_end(&source, ends, Duration::from_millis(10), timeout).await;
    let _ = stop.send(());
    projector
        .await
        .context("joining the projector")?
        .context("running the projector")?;
    let finished = finished?;
    drop(source);

    verify(&pool, expected).await?;
    pool.close().await;
    let total: i64 = ends.values().sum();
    let groups = usage_upserts(&owner_url).await? as f64 / 2.0;
    let (first_progress, steady_rate) = match finished.first_progress {
        Some((at, done)) if at < finished.done => (
            Some(at - start),
            Some((total - done) as f64 / (finished.done - at).as_secs_f64()),
        ),
        Some((at, _)) => (Some(at - start), None),
        None => (None, None),
    };
    Ok(Projected {
        elapsed: finished.done - start,
        first_progress,
        steady_rate,
        groups_per_record: groups / total as f64,
    })
}

/// `company_ai_usage` rows inserted plus updated so far in a database, from Postgres's
/// cumulative statistics. The projector writes two of them (daily, monthly) per company per
/// batch (a group; every group of a batch goes in the one `apply_usage_batch` call, a single
/// round trip), so this tells how many groups it ran. A busy backend flushes these counters
/// only now and then (an idle one may wait 10 s), one that exits flushes them at once: call
/// this after the projector has stopped. It reads until two reads 1.1 s apart agree.
async fn usage_upserts(owner_url: &str) -> anyhow::Result<i64> {
    let mut conn = PgConnection::connect(owner_url)
        .await
        .context("connecting as the owner to read statistics")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    loop {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // A fresh snapshot of the statistics each time (they are cached per transaction).
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut conn)
            .await
            .context("clearing the statistics snapshot")?;
        let n: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0)::int8 FROM pg_stat_user_tables
              WHERE relname = 'company_ai_usage'",
        )
        .fetch_one(&mut conn)
        .await
        .context("reading company_ai_usage statistics")?;
        if last == Some(n) || Instant::now() > deadline {
            let _ = conn.close().await;
            return Ok(n);
        }
        last = Some(n);
    }
}

/// The latency runs on fresh topics and a fresh database: a paced run at `rate` and, if the
/// projector fell behind, a second one at half the rate it managed in the first.
async fn latency_phase(
    res: &mut Resources,
    args: &Args,
    companies: &[Uuid],
    rng: &mut fastrand::Rng,
    rate: f64,
    batch_records: usize,
    batch_wait_ms: u64,
) -> anyhow::Result<Vec<LatencyRun>> {
    let kafka = res.topics("bench_latency", args.partitions).await?;
    let postgres = res.db("bench_latency").await?;
    let bench = LatencyBench {
        config: ProjectorConfig {
            kafka: kafka.clone(),
            postgres: postgres.clone(),
            group_id: format!("{}projector", kafka.topic_prefix),
            batch_max_records: batch_records,
            batch_max_wait_ms: batch_wait_ms,
            ..ProjectorConfig::default()
        },
        topic: kafka.topic("usage"),
        pool: trestle_store::connect(&postgres).await?,
        producer: EventProducer::new(&kafka).context("creating the producer")?,
        companies,
        secs: args.latency_secs,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let mut written = 0;
    let first = bench.run("half of (2)", rate, rng, &mut written).await?;
    let mut runs = vec![first];
    if !runs[0].lat.kept_up() {
        let applied = runs[0].lat.applied_rate;
        eprintln!(
            "==> 4/4 the projector fell behind at {rate:.0} events/s (it applied {applied:.0}/s); again at half of that"
        );
        runs.push(
            bench
                .run(
                    "half of the rate applied above",
                    applied / 2.0,
                    rng,
                    &mut written,
                )
                .await?,
        );
    }
    bench.pool.close().await;
    Ok(runs)
}

/// What the latency runs share.
struct LatencyBench<'a> {
    config: ProjectorConfig,
    topic: String,
    pool: sqlx::PgPool,
    producer: EventProducer,
    companies: &'a [Uuid],
    secs: u64,
    timeout: Duration,
}

impl LatencyBench<'_> {
    /// Starts the projector, warms it up with one event per company (so its group has joined
    /// and every company has its rows), measures a paced run, and stops it again, so that its
    /// connections end and flush their statistics: `written` is the `company_ai_usage` row
    /// count of [`usage_upserts`] so far.
    async fn run(
        &self,
        label: &'static str,
        rate: f64,
        rng: &mut fastrand::Rng,
        written: &mut i64,
    ) -> anyhow::Result<LatencyRun> {
        let n = ((rate * self.secs as f64).ceil() as usize).max(1);
        let events = workload(rng, self.companies, n);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let projector = tokio::spawn(trestle_projector::run(self.config.clone(), async {
            let _ = stopped.await;
        }));
        let measured = async {
            let warm_up: Vec<Event> = self
                .companies
                .iter()
                .map(|c| usage(*c, Meter::GeminiFlashQueries, 1000, 100))
                .collect();
            (self.producer.publish_all(&warm_up).await).context("publishing the warm-up events")?;
            let ends: Ends = trestle_testkit::end_offsets(&self.config.kafka, &self.topic)?
                .into_iter()
                .collect();
            let source = Source::Postgres {
                pool: self.pool.clone(),
                topic: self.topic.clone(),
            };
            progress::wait_for_end(&source, &ends, Duration::from_millis(20), self.timeout)
                .await
                .context("warming up the latency projector")?;
            let every = Duration::from_millis(5);
            latency::measure(
                &self.producer,
                &self.pool,
                &self.topic,
                events,
                rate,
                every,
                self.timeout,
            )
            .await
        }
        .await;
        let _ = stop.send(());
        projector
            .await
            .context("joining the latency projector")?
            .context("running the latency projector")?;
        let lat = measured?;
        let now = usage_upserts(&self.config.postgres.owner_url).await?;
        // The warm-up wrote exactly two rows per company: one event each.
        let groups = (now - *written - 2 * self.companies.len() as i64) as f64 / 2.0;
        *written = now;
        Ok(LatencyRun {
            label,
            groups_per_record: groups / lat.samples as f64,
            lat,
        })
    }
}

/// A company's (usage rows, monthly cost in micro-USD).
type Totals = (i64, i64);

/// Checks, as each tenant, that its usage rows and monthly cost are exactly what was sent.
async fn verify(pool: &sqlx::PgPool, expected: &BTreeMap<Uuid, Totals>) -> anyhow::Result<()> {
    let checked: Vec<(Uuid, Totals, Totals)> = futures::stream::iter(expected)
        .map(|(company, want)| async move {
            let mut tx = trestle_store::begin_for_tenant(pool, *company).await?;
            let got: Totals = sqlx::query_as(
                "SELECT (SELECT count(*) FROM usage_records)::int8,
                        (SELECT coalesce(sum(total_cost_micro_usd), 0) FROM company_ai_usage
                          WHERE period_type = 'monthly')::int8",
            )
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            anyhow::Ok((*company, *want, got))
        })
        .buffer_unordered(4)
        .try_collect()
        .await
        .context("reading the projection back as each tenant")?;
    let wrong: Vec<_> = checked
        .iter()
        .filter(|(_, want, got)| want != got)
        .collect();
    anyhow::ensure!(
        wrong.is_empty(),
        "{} companies' usage differs from what was sent, e.g. {:?} (company, (rows, cost) sent, projected)",
        wrong.len(),
        wrong.first()
    );
    Ok(())
}

/// A company id drawn from the seeded generator (a random v4 UUID).
fn company_id(rng: &mut fastrand::Rng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// One usage event as the engine publishes it (a fresh request id).
fn usage(company: Uuid, meter: Meter, quantity_milli: i64, cost_micro_usd: i64) -> Event {
    let request_id = Uuid::now_v7();
    fixtures::usage(company, request_id, meter, quantity_milli, cost_micro_usd)
}

/// `n` usage events, each from a company drawn uniformly, with a mix of meters.
fn workload(rng: &mut fastrand::Rng, companies: &[Uuid], n: usize) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let company = companies[rng.usize(..companies.len())];
            let (meter, quantity, cost) = match rng.u32(0..100) {
                0..50 => (Meter::GeminiFlashQueries, 1_000, 100),
                50..70 => (Meter::NotebooklmQueries, 1_000, 5_000),
                70..80 => (Meter::GeminiProQueries, 1_000, 2_000),
                80..90 => (Meter::DocumentPages, 12_000, 1_200),
                _ => (Meter::EmbeddingTokens, 850_000, 85),
            };
            usage(company, meter, quantity, cost)
        })
        .collect()
}

/// Rows and cost per company.
fn expected(events: &[Event]) -> BTreeMap<Uuid, Totals> {
    let mut totals = BTreeMap::new();
    for e in events {
        if let Event::UsageRecorded(u) = e {
            let t = totals.entry(u.meta.company_id).or_insert((0, 0));
            t.0 += 1;
            t.1 += u.cost_micro_usd;
        }
    }
    totals
}

fn copy_row(event: &Event, at: &Delivered) -> copy::Row {
    let Event::UsageRecorded(u) = event else {
        unreachable!("the workload holds only usage events")
    };
    copy::Row {
        idempotency_key: u.idempotency_key.clone(),
        company_id: u.meta.company_id,
        request_id: u.request_id,
        meter: u.meter.as_str(),
        quantity_milli: u.quantity_milli,
        cost_micro_usd: u.cost_micro_usd,
        price_book_version: u.price_book_version,
        occurred_at: u.meta.occurred_at,
        event_id: u.meta.event_id,
        source_partition: at.partition,
        source_offset: at.offset,
    }
}

/// Everything one run measured.
struct Report<'a> {
    args: &'a Args,
    env: Environment,
    publish_rate: f64,
    copy_times: Vec<Duration>,
    copy_rate: f64,
    exactly_once: Mode,
    kafka_after: Mode,
    lat: Vec<LatencyRun>,
    batch_records: usize,
    batch_wait_ms: u64,
}

impl Report<'_> {
    /// Prints the figures as Markdown, ready for `docs/benchmarks.md`.
    fn print(&self) {
        let n = self.args.events as f64;
        let (eo, ka) = (self.exactly_once.rate(n), self.kafka_after.rate(n));
        let verdict = |ratio: f64, aim: f64| if ratio >= aim { "met" } else { "missed" };
        let opt_s = |d: Option<f64>| d.map_or("-".into(), |d| format!("{d:.2} s"));
        let opt_rate = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.0}"));

        println!();
        println!(
            "## Projector benchmark: {} usage events, {} companies, {} partitions, batches of <= {} records / {} ms",
            self.args.events, self.args.companies, self.args.partitions, self.batch_records, self.batch_wait_ms
        );
        println!();
        for (label, value) in &self.env.0 {
            println!("- {label}: {value}");
        }
        println!("- load average at end: {}", environment::load_average());
        println!(
            "- events published once at {:.0} events/s",
            self.publish_rate
        );
        println!();
        println!("| measurement | wall time of each run | rows/s (all runs) | to first commit (mean) | rows/s after first commit (mean) | company groups per record (mean) |");
        println!("|---|---:|---:|---:|---:|---:|");
        println!(
            "| 1. raw binary COPY into a copy of `usage_records` (owner, no RLS, one statement) | {} | {:.0} | - | - | - |",
            self.copy_times
                .iter()
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
            self.copy_rate
        );
        for (label, p, r) in [
            (
                "2. projector, offsets in Postgres (exactly once), from offset 0",
                &self.exactly_once,
                eo,
            ),
            (
                "3. projector, Kafka offsets committed after the DB write, from offset 0",
                &self.kafka_after,
                ka,
            ),
        ] {
            let walls: Vec<String> = p
                .runs
                .iter()
                .map(|r| format!("{:.2} s", r.elapsed.as_secs_f64()))
                .collect();
            println!(
                "| {label} | {} | {r:.0} | {} | {} | {} |",
                walls.join(", "),
                opt_s(p.mean(|r| r.first_progress.map(|d| d.as_secs_f64()))),
                opt_rate(p.mean(|r| r.steady_rate)),
                p.mean(|r| Some(r.groups_per_record))
                    .map_or("-".into(), |g| format!("{g:.2}"))
            );
        }
        println!();
        println!("| ratio | value | aim | |");
        println!("|---|---:|---:|---|");
        let r1 = eo / self.copy_rate;
        let r2 = eo / ka;
        println!(
            "| exactly-once projector / raw COPY | {r1:.3} | >= 0.35 | {} |",
            verdict(r1, 0.35)
        );
        println!(
            "| exactly-once projector / Kafka-offsets projector | {r2:.3} | >= 0.9 | {} |",
            verdict(r2, 0.9)
        );
        self.print_latency();
    }

    /// Prints phase 4, the latency table.
    fn print_latency(&self) {
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
        println!();
        println!(
            "4. End-to-end latency, produced -> row visible (exactly-once projector, paced runs of {} s, visibility polled every {}):",
            self.args.latency_secs,
            ms(self.lat.first().map_or(Duration::ZERO, |r| r.lat.poll_every))
        );
        println!();
        println!("| offered rate | events/s sent | events | p50 | p99 | p99.9 | max | caught up after last send | events/s applied | company groups per record |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for run in &self.lat {
            let l = &run.lat;
            println!(
                "| {} ({:.0}/s) | {:.0} | {} | {} | {} | {} | {} | {}{} | {:.0} | {:.2} |",
                run.label,
                l.target_rate,
                l.achieved_rate,
                l.samples,
                ms(l.p50),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                ms(l.drain),
                if l.kept_up() { "" } else { " (fell behind)" },
                l.applied_rate,
                run.groups_per_record
            );
        }
    }
}
