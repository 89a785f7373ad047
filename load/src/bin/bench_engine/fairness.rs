//! Phase 2: quiet companies next to a noisy one, beyond capacity, with the provider simulator.
//!
//! Capacity is explicit: every call takes `--provider-latency-ms` (no jitter) and the engine
//! runs at most `--max-in-flight` calls at once, so it serves at most max_in_flight × 1000 /
//! latency requests per second (nominal; HTTP and the shared CPU take a little off). Requests
//! are produced paced (each at its planned instant, `meta.occurred_at` = send time) for
//! `--fair-secs`: `--quiet` companies at one rate each and one noisy company at
//! `--noisy-factor` times that rate, together `--overload` × capacity, into the same
//! partitions. Every company is registered as enterprise (same weight; caps do not bind at
//! the quiet companies' rate). For each quiet request the benchmark computes its
//! time-in-queue = (outcome's `occurred_at` − request's `occurred_at`) − provider `latency_ms`:
//! produce, fetch, buffer and scheduler wait, task start — everything but the call itself.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinSet;
use trestle_engine::DispatchMode;
use trestle_events::{Event, Tier};
use trestle_kafka::{EventProducer, KafkaOptions};
use trestle_provider_sim::{Behaviour, SimConfig};
use uuid::Uuid;

use crate::engine::{self, Engine, POLL_EVERY};
use crate::progress::{self, GroupProgress};
use crate::throughput::company_id;
use crate::{Args, Resources};

/// Outcomes finished this long after the first send count towards throughput: the backlog
/// builds up from the first second on.
pub(crate) const WARM_UP_SECS: u64 = 2;
const WARM_UP: Duration = Duration::from_secs(WARM_UP_SECS);

/// One workload run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup {
    pub label: &'static str,
    pub dispatch: DispatchMode,
    pub noisy: bool,
    /// The benchmark's raised scheduler buffer (else the engine's default).
    pub raised_buffer: bool,
}

/// The runs, in order.
pub(crate) fn setups(args: &Args) -> Vec<Setup> {
    let mut setups = vec![
        Setup {
            label: "fair, quiet companies only",
            dispatch: DispatchMode::Fair,
            noisy: false,
            raised_buffer: true,
        },
        Setup {
            label: "fair, with the noisy company",
            dispatch: DispatchMode::Fair,
            noisy: true,
            raised_buffer: true,
        },
        Setup {
            label: "fifo, with the noisy company",
            dispatch: DispatchMode::Fifo,
            noisy: true,
            raised_buffer: true,
        },
        Setup {
            label: "partition order, with the noisy company",
            dispatch: DispatchMode::PartitionOrder,
            noisy: true,
            raised_buffer: true,
        },
    ];
    if !args.skip_default_buffer {
        setups.push(Setup {
            label: "fair, with the noisy company, default buffer",
            dispatch: DispatchMode::Fair,
            noisy: true,
            raised_buffer: false,
        });
    }
    setups
}

/// A percentile of quiet time-in-queue; `lower_bound` when unserved requests (counted at
/// the time the engine was stopped) reach into it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pct {
    pub ms: f64,
    pub lower_bound: bool,
}

impl std::fmt::Display for Pct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ge = if self.lower_bound { ">= " } else { "" };
        if self.ms >= 10_000.0 {
            write!(f, "{ge}{:.1} s", self.ms / 1000.0)
        } else {
            write!(f, "{ge}{:.1} ms", self.ms)
        }
    }
}

/// What one run measured.
pub(crate) struct Measured {
    pub setup: Setup,
    pub sent_rate: f64,
    pub quiet_sent: usize,
    pub quiet_served: usize,
    pub p50: Pct,
    pub p99: Pct,
    pub max: Pct,
    /// Quiet companies sharing the noisy company's partition: their count and p99.
    pub same_partition: (usize, Pct),
    /// Outcomes per second finished between WARM_UP and the last send.
    pub throughput: f64,
    /// The noisy company's outcomes per second over the same window.
    pub noisy_rate: f64,
    /// From the last send until everything was committed; `None`: stopped at the cap.
    pub drained_after: Option<Duration>,
    /// Outcomes other than completions (failed, throttled): should be 0.
    pub not_completed: usize,
    /// Median provider latency_ms of the completions.
    pub provider_ms: f64,
}

/// Everything phase 2 measured.
pub(crate) struct Fairness {
    pub nominal_capacity: f64,
    /// Outcomes/s of the calibration run (a backlog served in fair mode), if it ran.
    pub measured_capacity: Option<f64>,
    /// The capacity the offered load is a multiple of: `--capacity`, else the measured one.
    pub capacity: f64,
    pub quiet_rate: f64,
    pub noisy_rate: f64,
    pub quiet_in_noisy_partition: usize,
    pub runs: Vec<Measured>,
}

impl Fairness {
    pub(crate) fn find(&self, f: impl Fn(&Setup) -> bool) -> Option<&Measured> {
        self.runs.iter().find(|m| f(&m.setup))
    }
}

pub(crate) async fn phase(args: &Args, res: &mut Resources) -> anyhow::Result<Fairness> {
    let sim = start_sim(args.provider_latency_ms).await?;
    let nominal_capacity = args.max_in_flight as f64 * 1000.0 / args.provider_latency_ms as f64;
    let mut rng = fastrand::Rng::with_seed(args.seed.wrapping_add(1));
    let quiet: Vec<Uuid> = (0..args.quiet).map(|_| company_id(&mut rng)).collect();
    let noisy = company_id(&mut rng);
    let mut companies = quiet.clone();
    companies.push(noisy);
    let measured_capacity = match args.capacity {
        Some(_) => None,
        None => Some(calibrate(args, res, &sim, &companies).await?),
    };
    let capacity = args
        .capacity
        .or(measured_capacity)
        .unwrap_or(nominal_capacity);
    let total_rate = args.overload * capacity;
    let quiet_rate = total_rate / (args.quiet as f64 + args.noisy_factor);
    let noisy_rate = quiet_rate * args.noisy_factor;
    let partition_of = |c: &Uuid| {
        trestle_kafka::partition_for_key(
            trestle_kafka::company_key(c).as_bytes(),
            args.fair_partitions,
        )
    };
    let noisy_partition = partition_of(&noisy);
    let same: Vec<bool> = quiet
        .iter()
        .map(|c| partition_of(c) == noisy_partition)
        .collect();
    eprintln!(
        "==> 2/2 fairness: nominal capacity {nominal_capacity:.0}/s ({} in flight x {} ms), offered load {:.1} x {capacity:.0}/s; {} quiet companies at {quiet_rate:.1}/s each ({} in the noisy one's partition), one noisy at {noisy_rate:.0}/s, for {} s",
        args.max_in_flight,
        args.provider_latency_ms,
        args.overload,
        args.quiet,
        same.iter().filter(|s| **s).count(),
        args.fair_secs
    );
    // The schedule: company k's i-th request at (i + k / n) / rate_k, merged in time order.
    let secs = args.fair_secs as f64;
    let mut schedule: Vec<(f64, usize)> = Vec::new();
    let n = args.quiet + 1;
    for k in 0..n {
        let rate = if k < args.quiet {
            quiet_rate
        } else {
            noisy_rate
        };
        let mut i = 0.0;
        loop {
            let at = (i + k as f64 / n as f64) / rate;
            if at >= secs {
                break;
            }
            schedule.push((at, k));
            i += 1.0;
        }
    }
    schedule.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut runs = Vec::new();
    for (i, setup) in setups(args).into_iter().enumerate() {
        eprintln!(
            "==> 2/2 run {}/{}: {}",
            i + 1,
            setups(args).len(),
            setup.label
        );
        let workload = Workload {
            companies: &companies,
            quiet: args.quiet,
            same: &same,
            schedule: &schedule,
        };
        runs.push(run(args, res, &sim, setup, &workload, i).await?);
    }
    Ok(Fairness {
        nominal_capacity,
        measured_capacity,
        capacity,
        quiet_rate,
        noisy_rate,
        quiet_in_noisy_partition: same.iter().filter(|s| **s).count(),
        runs,
    })
}

/// The engine of the fairness runs: the simulator, `--max-in-flight`, and the raised buffer
/// unless told otherwise.
fn fair_config(
    args: &Args,
    kafka: &KafkaOptions,
    sim: &str,
    dispatch: DispatchMode,
    raised_buffer: bool,
) -> trestle_engine::EngineConfig {
    let mut config = engine::config(kafka, kafka.topic("engine"), dispatch);
    config.provider.base_url = sim.to_owned();
    config.scheduler.max_in_flight = args.max_in_flight;
    if raised_buffer {
        config.scheduler.max_buffered_per_partition = args.buffer_per_partition;
        config.scheduler.resume_buffered_per_partition = args.buffer_per_partition / 2;
        config.scheduler.max_buffered = args.buffer_total;
        config.scheduler.resume_buffered = args.buffer_total / 2;
    }
    config
}

/// The engine's real capacity with these settings: a backlog of `--calibrate-requests` from
/// all the companies, published before the engine starts, served in fair mode; outcomes per
/// second from the first commit to the last.
async fn calibrate(
    args: &Args,
    res: &mut Resources,
    sim: &str,
    companies: &[Uuid],
) -> anyhow::Result<f64> {
    eprintln!(
        "==> 2/2 calibration: the engine's capacity on a backlog of {} requests",
        args.calibrate_requests
    );
    let kafka = res
        .topics("bench_engine_calibrate", args.fair_partitions)
        .await?;
    let producer = EventProducer::new(&kafka).context("creating the producer")?;
    engine::register(&producer, companies, Tier::Enterprise).await?;
    let backlog: Vec<Event> = (0..args.calibrate_requests)
        .map(|i| {
            let c = companies[i % companies.len()];
            Event::AiRequestSubmitted(engine::request(
                c,
                &format!("Summarise site diary entry {i}"),
            ))
        })
        .collect();
    engine::publish_all(&producer, &backlog).await?;
    let topic = kafka.topic("ai-requests");
    let ends = progress::ends(&kafka, &topic)?;
    let observer = GroupProgress::new(&kafka, &kafka.topic("engine"), &topic, ends)?;
    let started = Instant::now();
    let engine = Engine::start(fair_config(args, &kafka, sim, DispatchMode::Fair, true));
    let finished = observer
        .wait(
            "calibration",
            started,
            POLL_EVERY,
            started + Duration::from_secs(args.timeout_secs),
        )
        .await;
    engine.stop().await?;
    let finished = finished?;
    anyhow::ensure!(
        finished.done >= observer.total(),
        "the calibration backlog was not served in time"
    );
    let rate = finished
        .steady_rate()
        .context("the calibration run committed everything at once")?;
    eprintln!("    calibration: {rate:.0} outcomes/s");
    Ok(rate)
}

struct Workload<'a> {
    /// Quiet companies, then the noisy one.
    companies: &'a [Uuid],
    quiet: usize,
    /// Per quiet company: shares the noisy company's partition.
    same: &'a [bool],
    /// (seconds after the start, company index).
    schedule: &'a [(f64, usize)],
}

/// One request as sent.
struct Sent {
    request_id: Uuid,
    company: usize,
    at: DateTime<Utc>,
}

async fn run(
    args: &Args,
    res: &mut Resources,
    sim: &str,
    setup: Setup,
    w: &Workload<'_>,
    index: usize,
) -> anyhow::Result<Measured> {
    let kafka = res
        .topics(&format!("bench_engine_fair{index}"), args.fair_partitions)
        .await?;
    let requests_topic = kafka.topic("ai-requests");
    let producer = EventProducer::new(&kafka).context("creating the producer")?;
    let active: Vec<usize> = (0..w.companies.len())
        .filter(|k| setup.noisy || *k < w.quiet)
        .collect();
    let registered: Vec<Uuid> = active.iter().map(|k| w.companies[*k]).collect();
    engine::register(&producer, &registered, Tier::Enterprise).await?;

    let group = kafka.topic("engine");
    let engine = Engine::start(fair_config(
        args,
        &kafka,
        sim,
        setup.dispatch,
        setup.raised_buffer,
    ));

    let measured = async {
        // Warm-up: one request per company, so the group has joined, the directory is read
        // and the HTTP connections are open before anything is timed.
        let warm: Vec<Event> = registered
            .iter()
            .map(|c| Event::AiRequestSubmitted(engine::request(*c, "warm-up")))
            .collect();
        engine::publish_all(&producer, &warm).await?;
        let started = Instant::now();
        let ends = progress::ends(&kafka, &requests_topic)?;
        let warm_up = GroupProgress::new(&kafka, &group, &requests_topic, ends)?
            .wait("warm-up", started, POLL_EVERY, started + Duration::from_secs(60))
            .await?;
        anyhow::ensure!(warm_up.done >= warm.len() as i64, "the engine did not serve the warm-up requests within 60 s");

        let (wall0, sent, last_send) = send_paced(&producer, setup, w).await?;
        let ends = progress::ends(&kafka, &requests_topic)?;
        let total: i64 = ends.values().sum();
        let drain = GroupProgress::new(&kafka, &group, &requests_topic, ends)?
            .wait(
                setup.label,
                last_send,
                POLL_EVERY,
                last_send + Duration::from_secs(args.drain_cap_secs),
            )
            .await?;
        let drained_after = (drain.done >= total).then(|| drain.last - last_send);
        if drained_after.is_none() {
            eprintln!(
                "    {}: stopping with a backlog ({} of {total} committed) {} s after the last send",
                setup.label, drain.done, args.drain_cap_secs
            );
        }
        anyhow::Ok((wall0, sent, drained_after))
    }
    .await;
    let stopped_at = trestle_events::now_micros();
    engine.stop().await?;
    let (wall0, sent, drained_after) = measured?;

    let outcomes = read_all(&kafka, &kafka.topic("ai-outcomes")).await?;
    Ok(measure(
        setup,
        w,
        &sent,
        &outcomes,
        wall0,
        stopped_at,
        args,
        drained_after,
    ))
}

/// Sends the schedule's requests of the setup's companies at their planned instants. Returns
/// the wall-clock start, the requests sent, and the instant of the last send.
async fn send_paced(
    producer: &EventProducer,
    setup: Setup,
    w: &Workload<'_>,
) -> anyhow::Result<(DateTime<Utc>, Vec<Sent>, Instant)> {
    let mut sends = JoinSet::new();
    let mut sent = Vec::with_capacity(w.schedule.len());
    let t0 = Instant::now();
    let wall0 = trestle_events::now_micros();
    let mut next_line = t0 + Duration::from_secs(5);
    for (i, (at, k)) in w.schedule.iter().enumerate() {
        if !setup.noisy && *k >= w.quiet {
            continue;
        }
        let due = t0 + Duration::from_secs_f64(*at);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let mut request =
            engine::request(w.companies[*k], &format!("Summarise site diary entry {i}"));
        request.meta.occurred_at = trestle_events::now_micros();
        sent.push(Sent {
            request_id: request.request_id,
            company: *k,
            at: request.meta.occurred_at,
        });
        let producer = producer.clone();
        sends.spawn(async move { producer.publish(&Event::AiRequestSubmitted(request)).await });
        if Instant::now() >= next_line {
            eprintln!(
                "    {}: {} requests sent after {:.0} s",
                setup.label,
                sent.len(),
                t0.elapsed().as_secs_f64()
            );
            next_line += Duration::from_secs(5);
        }
    }
    let last_send = Instant::now();
    while let Some(r) = sends.join_next().await {
        r.context("joining a send")?
            .context("publishing a paced request")?;
    }
    Ok((wall0, sent, last_send))
}

#[allow(clippy::too_many_arguments)]
fn measure(
    setup: Setup,
    w: &Workload<'_>,
    sent: &[Sent],
    outcomes: &[Event],
    wall0: DateTime<Utc>,
    stopped_at: DateTime<Utc>,
    args: &Args,
    drained_after: Option<Duration>,
) -> Measured {
    // request_id -> (finished at, provider latency ms)
    let mut done: HashMap<Uuid, (DateTime<Utc>, i64)> = HashMap::new();
    let mut not_completed = 0;
    for e in outcomes {
        match e {
            Event::AiRequestCompleted(c) => {
                done.insert(c.request_id, (c.meta.occurred_at, c.latency_ms));
            }
            _ => not_completed += 1,
        }
    }
    let ms = |d: chrono::TimeDelta| d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
    let mut quiet = Vec::new();
    let mut quiet_same = Vec::new();
    let mut served = 0;
    let window = (
        wall0 + chrono::TimeDelta::from_std(WARM_UP).unwrap_or_default(),
        wall0 + chrono::TimeDelta::seconds(args.fair_secs as i64),
    );
    let (mut in_window, mut noisy_in_window) = (0usize, 0usize);
    let mut provider = Vec::new();
    for s in sent {
        let entry = match done.get(&s.request_id) {
            Some((at, latency_ms)) => {
                if *at >= window.0 && *at < window.1 {
                    in_window += 1;
                    if s.company >= w.quiet {
                        noisy_in_window += 1;
                    }
                }
                provider.push(*latency_ms as f64);
                ((ms(*at - s.at) - *latency_ms as f64).max(0.0), true)
            }
            None => (ms(stopped_at - s.at).max(0.0), false),
        };
        if s.company < w.quiet {
            served += usize::from(entry.1);
            quiet.push(entry);
            if w.same[s.company] {
                quiet_same.push(entry);
            }
        }
    }
    let window_secs = (window.1 - window.0).as_seconds_f64();
    provider.sort_by(f64::total_cmp);
    Measured {
        setup,
        sent_rate: sent.len() as f64 / args.fair_secs as f64,
        quiet_sent: quiet.len(),
        quiet_served: served,
        p50: percentile(&mut quiet.clone(), 50.0),
        p99: percentile(&mut quiet.clone(), 99.0),
        max: percentile(&mut quiet, 100.0),
        same_partition: (quiet_same.len(), percentile(&mut quiet_same, 99.0)),
        throughput: in_window as f64 / window_secs,
        noisy_rate: noisy_in_window as f64 / window_secs,
        drained_after,
        not_completed,
        provider_ms: provider
            .get(provider.len() / 2)
            .copied()
            .unwrap_or(f64::NAN),
    }
}

/// Nearest-rank percentile of (ms, served) samples; a lower bound when an unserved sample
/// (its value the time until the engine stopped) is at or below the rank.
fn percentile(samples: &mut [(f64, bool)], pct: f64) -> Pct {
    if samples.is_empty() {
        return Pct {
            ms: f64::NAN,
            lower_bound: false,
        };
    }
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rank = ((pct / 100.0) * samples.len() as f64).ceil() as usize;
    let i = rank.clamp(1, samples.len()) - 1;
    Pct {
        ms: samples[i].0,
        lower_bound: samples[..=i].iter().any(|s| !s.1),
    }
}

/// Reads a physical topic from the start (read_committed) up to its end: every partition
/// assigned, no group membership, done when each partition reports its end.
async fn read_all(kafka: &KafkaOptions, topic: &str) -> anyhow::Result<Vec<Event>> {
    let partitions: Vec<i32> = progress::ends(kafka, topic)?.into_keys().collect();
    let group = format!("{}reader-{}", kafka.topic_prefix, Uuid::new_v4().simple());
    let mut config = kafka.consumer_config(&group);
    config.set("enable.partition.eof", "true");
    let consumer: StreamConsumer<QuietEof> = config
        .create_with_context(QuietEof)
        .context("creating the outcome reader")?;
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .context("building the assignment")?;
    }
    consumer
        .assign(&tpl)
        .context("assigning the outcome reader")?;
    let mut at_end: BTreeMap<i32, bool> = partitions.iter().map(|p| (*p, false)).collect();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let result = loop {
        if at_end.values().all(|e| *e) {
            break Ok(());
        }
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Err(_) => break Err(anyhow::anyhow!("reading {topic} took over 120 s")),
            Ok(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p, true);
            }
            Ok(Err(e)) => break Err(e).with_context(|| format!("reading {topic}")),
            Ok(Ok(m)) => {
                at_end.insert(m.partition(), false);
                let payload = m.payload().unwrap_or_default().to_vec();
                drop(m);
                match trestle_events::decode(&payload) {
                    Ok(e) => events.push(e),
                    Err(e) => {
                        break Err(e).with_context(|| format!("decoding a record of {topic}"))
                    }
                }
            }
        }
    };
    // Assigned, not subscribed: nothing to revoke, so a plain drop (off the async threads).
    let _ = consumer.unassign();
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    result.map(|()| events)
}

/// A consumer context that does not log the end-of-partition events the reader asks for.
struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof {
            eprintln!("outcome reader: {error} ({reason})");
        }
    }
}

impl ConsumerContext for QuietEof {}

/// Starts the provider simulator in this process: every provider answers after exactly
/// `latency_ms`. Returns its URL.
async fn start_sim(latency_ms: u64) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the provider simulator")?;
    let addr = listener.local_addr().context("the simulator's address")?;
    let config = SimConfig {
        default: Behaviour {
            latency_ms,
            jitter_ms: 0,
            ..Behaviour::default()
        },
        ..SimConfig::default()
    };
    tokio::spawn(async move {
        trestle_provider_sim::serve(listener, &config, std::future::pending()).await
    });
    Ok(format!("http://{addr}"))
}
