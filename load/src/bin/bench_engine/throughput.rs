//! Phase 1: the engine with the no-op provider against raw consume → produce loops, all
//! reading the same requests topic from offset 0 with fresh consumer groups.

use std::time::{Duration, Instant};

use anyhow::Context;
use trestle_engine::DispatchMode;
use trestle_events::{Event, Tier};
use trestle_kafka::{EventProducer, KafkaOptions};
use uuid::Uuid;

use crate::engine::{self, Engine, POLL_EVERY};
use crate::progress::{self, Finished, GroupProgress};
use crate::{Args, Resources};

/// What one kind of run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Engine,
    RawTransactional,
    RawTransactionalInFlight,
    RawPlain,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Engine => "engine, no-op provider (exactly once: outcome + usage per request)",
            Kind::RawTransactional => {
                "raw rdkafka loop, transactional (every 100 ms / 1000 records: acks awaited, send_offsets_to_transaction, commit)"
            }
            Kind::RawTransactionalInFlight => {
                "raw rdkafka loop, transactional, committing with records in flight (as the engine does)"
            }
            Kind::RawPlain => "raw rdkafka loop, not transactional (offsets committed after acks)",
        }
    }
}

/// The runs of one kind.
pub(crate) struct Runs {
    pub kind: Kind,
    pub runs: Vec<Finished>,
    /// The raw loops' time spent committing, per run.
    pub commits: Vec<crate::raw::CommitStats>,
}

impl Runs {
    /// Records per second from first to last committed output, over all runs (records counted
    /// after each run's first commit, over the time after it).
    pub(crate) fn steady_rate(&self) -> f64 {
        let (mut records, mut secs) = (0i64, 0f64);
        for r in &self.runs {
            if let Some((at, done)) = r.first {
                records += r.done - done;
                secs += (r.last - at).as_secs_f64();
            }
        }
        records as f64 / secs
    }
}

/// Everything phase 1 measured.
pub(crate) struct Throughput {
    pub requests: usize,
    pub companies: usize,
    pub publish_rate: f64,
    pub request_bytes: usize,
    pub runs: Vec<Runs>,
}

impl Throughput {
    pub(crate) fn rate(&self, kind: Kind) -> f64 {
        self.runs
            .iter()
            .find(|r| r.kind == kind)
            .map_or(f64::NAN, Runs::steady_rate)
    }
}

pub(crate) async fn phase(args: &Args, res: &mut Resources) -> anyhow::Result<Throughput> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let kafka = res.topics("bench_engine_tput", args.partitions).await?;
    let raw_out = res.topics("bench_engine_raw_out", args.partitions).await?;
    let requests_topic = kafka.topic("ai-requests");
    let published = publish(args, &kafka, &requests_topic).await?;
    let (ends, total) = (published.ends, published.total);
    let mut runs: Vec<Runs> = [
        Kind::RawTransactional,
        Kind::Engine,
        Kind::RawTransactionalInFlight,
        Kind::RawPlain,
    ]
    .into_iter()
    .map(|kind| Runs {
        kind,
        runs: vec![],
        commits: vec![],
    })
    .collect();
    // Alternating order (A B, B A, ...) so drift on the shared machine does not always land on
    // the same kind; the loops for context run last each round.
    for round in 0..args.rounds {
        let mut order = vec![Kind::RawTransactional, Kind::Engine];
        if round % 2 == 1 {
            order.reverse();
        }
        order.extend([Kind::RawTransactionalInFlight, Kind::RawPlain]);
        for kind in order {
            let group = format!("{}{:?}-{round}", kafka.topic_prefix, kind).to_lowercase();
            let label = format!("round {}/{} {:?}", round + 1, args.rounds, kind);
            eprintln!("==> 1/2 {label}: {}", kind.label());
            let observer = GroupProgress::new(&kafka, &group, &requests_topic, ends.clone())?;
            let start = Instant::now();
            let deadline = start + timeout;
            let (finished, commits) = run_kind(
                kind,
                &kafka,
                &raw_out,
                &group,
                &requests_topic,
                total,
                (&label, &observer, start, deadline),
            )
            .await?;
            anyhow::ensure!(
                finished.done >= total,
                "{label} committed {} of {total} records in {timeout:?}",
                finished.done
            );
            eprintln!(
                "    {label}: {:.0} records/s from first to last commit, {:.2} s in all",
                finished.steady_rate().unwrap_or(f64::NAN),
                finished.wall().as_secs_f64()
            );
            if let Some(c) = commits {
                eprintln!(
                    "    {label}: {} commits, {:.2} s committing in all (mean {:.1} ms, max {:.1} ms)",
                    c.commits,
                    c.secs,
                    c.secs * 1e3 / c.commits.max(1) as f64,
                    c.max_secs * 1e3
                );
            }
            let runs = runs
                .iter_mut()
                .find(|r| r.kind == kind)
                .expect("every kind has its runs");
            runs.runs.push(finished);
            runs.commits.extend(commits);
        }
    }
    Ok(Throughput {
        requests: args.requests,
        companies: args.companies,
        publish_rate: published.rate,
        request_bytes: published.request_bytes,
        runs,
    })
}

/// The requests topic, filled.
struct Published {
    /// Records per second the producer reached.
    rate: f64,
    request_bytes: usize,
    ends: progress::Ends,
    total: i64,
}

/// Registers `args.companies` enterprise companies and publishes `args.requests` requests
/// spread over them at random (seeded).
async fn publish(
    args: &Args,
    kafka: &KafkaOptions,
    requests_topic: &str,
) -> anyhow::Result<Published> {
    let producer = EventProducer::new(kafka).context("creating the producer")?;

    let mut rng = fastrand::Rng::with_seed(args.seed);
    let companies: Vec<Uuid> = (0..args.companies).map(|_| company_id(&mut rng)).collect();
    eprintln!(
        "==> 1/2 throughput: registering {} companies as enterprise, publishing {} requests to {requests_topic}",
        companies.len(),
        args.requests
    );
    engine::register(&producer, &companies, Tier::Enterprise).await?;
    let events: Vec<Event> = (0..args.requests)
        .map(|i| {
            let company = companies[rng.usize(..companies.len())];
            Event::AiRequestSubmitted(engine::request(
                company,
                &format!("Summarise site diary entry {i} for the weekly report"),
            ))
        })
        .collect();
    let request_bytes = trestle_events::encode(&events[0])
        .context("encoding a request")?
        .len();
    let started = Instant::now();
    engine::publish_all(&producer, &events).await?;
    let publish_rate = events.len() as f64 / started.elapsed().as_secs_f64();
    drop(events);
    let ends = progress::ends(kafka, requests_topic)?;
    let total: i64 = ends.values().sum();
    anyhow::ensure!(
        total == args.requests as i64,
        "{requests_topic} holds {total} records, expected {}",
        args.requests
    );

    Ok(Published {
        rate: publish_rate,
        request_bytes,
        ends,
        total,
    })
}

/// A company id drawn from the seeded generator (a random v4 UUID).
pub(crate) fn company_id(rng: &mut fastrand::Rng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// One run of `kind` over the requests topic: the engine in-process, or one of the raw loops.
/// Returns when the group has committed every record (or the deadline passed).
async fn run_kind(
    kind: Kind,
    kafka: &KafkaOptions,
    raw_out: &KafkaOptions,
    group: &str,
    requests_topic: &str,
    total: i64,
    (label, observer, start, deadline): (&str, &GroupProgress, Instant, Instant),
) -> anyhow::Result<(Finished, Option<crate::raw::CommitStats>)> {
    let mut commits = None;
    let finished = match kind {
        Kind::Engine => {
            let outcomes = kafka.topic("ai-outcomes");
            let before = engine::high_watermarks(kafka, &outcomes)?;
            let mut config = engine::config(kafka, group.to_owned(), DispatchMode::Fair);
            config.provider.noop = true;
            let engine = Engine::start(config);
            let finished = observer.wait(label, start, POLL_EVERY, deadline).await;
            engine.stop().await?;
            let finished = finished?;
            let written = engine::high_watermarks(kafka, &outcomes)? - before;
            anyhow::ensure!(
                written >= total,
                "the engine wrote {written} records (with transaction markers) to {outcomes} for {total} requests"
            );
            finished
        }
        Kind::RawTransactional | Kind::RawTransactionalInFlight | Kind::RawPlain => {
            let out = raw_out.topic("ai-outcomes");
            let tx = match kind {
                Kind::RawTransactional => crate::raw::Mode::Transactional,
                Kind::RawTransactionalInFlight => crate::raw::Mode::TransactionalInFlight,
                _ => crate::raw::Mode::Plain,
            };
            let (kafka, group, input) =
                (kafka.clone(), group.to_owned(), requests_topic.to_owned());
            let raw = tokio::spawn(async move {
                crate::raw::run(&kafka, &group, &input, &out, total, tx).await
            });
            let finished = observer.wait(label, start, POLL_EVERY, deadline).await;
            if finished.as_ref().map_or(true, |f| f.done < total) {
                raw.abort();
            }
            match raw.await {
                Ok(r) => commits = Some(r?),
                Err(e) if e.is_cancelled() => {}
                Err(e) => return Err(e).context("joining the raw loop"),
            }
            finished?
        }
    };
    Ok((finished, commits))
}
