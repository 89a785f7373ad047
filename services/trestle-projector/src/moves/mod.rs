//! Moving a tenant to another database shard by replaying its usage from the log, while its
//! traffic continues (docs/tenancy.md, "Moving a tenant between shards").
//!
//! 1. `TenantMoveStarted` on `tenants` (the move's id; on the log, so an interrupted move is
//!    found and continued by running it again).
//! 2. Cut-over: a `TenantProvisioned` with the new shard (same region, project, isolation),
//!    caused by the start, and the same decision taken at once in the control database
//!    (`decide_usage_shards`): every usage offset not decided yet goes to the target, whichever
//!    projector decides it. Everything decided before is in exactly one shard's runs
//!    (`usage_shard_epochs`).
//! 3. Build: the company's records in runs of other shards are read from the log and applied
//!    in the target (`apply_usage_batch`: idempotent by key, so a re-run adds nothing).
//! 4. Compare: each source's usage projector has applied its runs; its rows of the company
//!    (count and digest) equal the log's records of its runs and those rows in the target.
//! 5. Re-label the runs to the target (keeping where they were), remove the company's rows from
//!    the sources (usage and billing), `TenantMoved`.
//!
//! **Invariant:** a usage record is counted in one shard at every moment a reader can see
//! (the target holds a copy before the source's is removed, so a reader may briefly see both:
//! totals across shards are read from the company's provisioned shard only), and every record
//! ends in the target: no usage is counted twice or lost.

mod error;
mod log;
mod rows;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use sqlx::PgPool;
use trestle_events::{Event, Meta, TenantMoveStarted, TenantMoved, TenantProvisioned};
use trestle_kafka::{EventProducer, KafkaOptions};
use trestle_store::PostgresOptions;
use uuid::Uuid;

pub use error::Error;

use crate::usage::{apply_batch, Usage};
use error::pg;

/// Records per transaction when building the target.
const BUILD_BATCH: usize = 1000;

/// Where a move runs.
#[derive(Debug, Clone)]
pub struct MoveSetup {
    pub kafka: KafkaOptions,
    /// The control database (routing decisions).
    pub control: PostgresOptions,
    /// Every shard database, in shard order: the shard count is its length.
    pub shards: Vec<PostgresOptions>,
    /// Name the shards' usage projectors store offsets under (their `projector`, by default
    /// `usage`).
    pub projector: String,
    /// Longest wait for a source shard's usage projector to apply what was routed to it.
    pub source_wait_ms: u64,
    /// Print each step on stderr.
    pub progress: bool,
}

/// What a finished move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveReport {
    pub move_id: Uuid,
    pub company: Uuid,
    pub from_shard: i32,
    pub to_shard: i32,
    /// Whether it continued an unfinished move.
    pub resumed: bool,
    /// Usage records moved into the target, per shard they came from.
    pub moved: BTreeMap<i32, i64>,
    /// md5 of the sorted md5s of all moved records' rows in the target.
    pub usage_digest: String,
}

/// Pools of every database a move touches.
struct Databases {
    control: PgPool,
    /// Application role, per shard.
    shards: Vec<PgPool>,
    /// Owning role, per shard (removal only).
    owners: Vec<PgPool>,
}

impl Databases {
    async fn connect(setup: &MoveSetup) -> Result<Self, Error> {
        let control = trestle_store::connect(&setup.control).await?;
        let (mut shards, mut owners) = (Vec::new(), Vec::new());
        for options in &setup.shards {
            shards.push(trestle_store::connect(options).await?);
            owners.push(trestle_store::connect_owner(options, 2, None).await?);
        }
        Ok(Databases {
            control,
            shards,
            owners,
        })
    }

    async fn close(self) {
        self.control.close().await;
        for p in self.shards.into_iter().chain(self.owners) {
            p.close().await;
        }
    }
}

/// Moves `company` to shard `to_shard`, or continues its unfinished move there.
pub async fn move_tenant(
    setup: &MoveSetup,
    company: Uuid,
    to_shard: i32,
) -> Result<MoveReport, Error> {
    let n = setup.shards.len() as i32;
    if !(0..n).contains(&to_shard) {
        return Err(Error::NoSuchShard {
            shard: to_shard,
            count: n,
        });
    }
    let db = Databases::connect(setup).await?;
    // One move of a company at a time, whoever runs it: two at once could each build a
    // different target. A session lock, held on its own connection until the move ends (or
    // the process dies, which closes the connection).
    let mut lock = db
        .control
        .acquire()
        .await
        .map_err(pg("locking the company's move"))?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("trestle.tenant_move:{company}"))
        .fetch_one(&mut *lock)
        .await
        .map_err(pg("locking the company's move"))?;
    let result = if locked {
        run(setup, &db, company, to_shard).await
    } else {
        Err(Error::MoveRunning { company })
    };
    // Closing the connection (not returning it to the pool) ends the session and its lock
    // whether or not the unlock below ran.
    if locked {
        let _ = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(format!("trestle.tenant_move:{company}"))
            .execute(&mut *lock)
            .await;
    }
    let _ = sqlx::Connection::close(lock.detach()).await;
    db.close().await;
    result
}

async fn run(
    setup: &MoveSetup,
    db: &Databases,
    company: Uuid,
    to: i32,
) -> Result<MoveReport, Error> {
    let n = setup.shards.len() as i32;
    let say = |line: String| {
        if setup.progress {
            eprintln!("move {company}: {line}");
        }
    };
    let producer = EventProducer::new(&setup.kafka)?;
    let (started, cutover, resumed) = start(setup, db, &producer, company, to).await?;
    let move_id = started.move_id;
    say(format!(
        "move {move_id} from shard {} to {to}{}; cut-over provisioning {}",
        started.from_shard,
        if resumed { " (continued)" } else { "" },
        cutover.meta.event_id
    ));
    let usage_topic = setup.kafka.topic("usage");
    let key = trestle_kafka::company_key(&company);
    let mut partitions = rows::partitions(&db.control, n, company).await?;
    partitions.push(log::partition_of(
        &setup.kafka,
        &usage_topic,
        key.as_bytes(),
    )?);
    partitions.sort_unstable();
    partitions.dedup();
    rows::cut_over(
        &db.control,
        n,
        company,
        &partitions,
        to,
        cutover.meta.occurred_at,
    )
    .await?;
    let epochs = rows::epochs(&db.control, n, company).await?;
    let runs = rows::source_runs(company, &epochs, to, move_id)?;
    let relabelled = rows::relabelled(&epochs, move_id);
    say(format!("{} runs of other shards to move", runs.len()));
    let timeout = Duration::from_millis(setup.source_wait_ms);
    for r in &runs {
        let pool = &db.shards[r.shard as usize];
        rows::wait_applied(
            pool,
            r.shard,
            &setup.projector,
            &usage_topic,
            r.partition,
            r.until,
            timeout,
        )
        .await?;
    }
    let keys = build(setup, db, company, to, &runs).await?;
    say(format!(
        "built {} records in shard {to}",
        keys.values().map(BTreeSet::len).sum::<usize>()
    ));
    for (&shard, keys) in &keys {
        compare(db, company, shard, to, keys, relabelled).await?;
    }
    rows::relabel(&db.control, n, company, to, move_id).await?;
    let sources: BTreeSet<i32> = keys
        .keys()
        .copied()
        .chain(std::iter::once(started.from_shard))
        .filter(|s| *s != to && (0..n).contains(s))
        .collect();
    for &shard in &sources {
        rows::copy_tier(&db.shards[shard as usize], &db.shards[to as usize], company).await?;
        let removed = rows::remove(&db.owners[shard as usize], company).await?;
        let left = rows::rows_left(&db.shards[shard as usize], company).await?;
        if left != 0 {
            return Err(Error::Differs {
                company,
                shard,
                detail: format!("{left} rows of the company are still there after removal"),
            });
        }
        say(format!("removed from shard {shard}: {removed:?}"));
    }
    finish(&producer, db, &started, keys, resumed).await
}

/// The move's start and cut-over, published now or found on the log (an unfinished move).
async fn start(
    setup: &MoveSetup,
    db: &Databases,
    producer: &EventProducer,
    company: Uuid,
    to: i32,
) -> Result<(TenantMoveStarted, TenantProvisioned, bool), Error> {
    let n = setup.shards.len() as i32;
    let history = log::tenant_history(&setup.kafka, company).await?;
    let provisioned = history
        .provisioned
        .ok_or(Error::NotProvisioned { company })?;
    let (started, cutover, resumed) = match history.open {
        Some(open) if open.started.to_shard != to || open.started.shard_count != n => {
            return Err(Error::OtherMoveOpen {
                company,
                move_id: open.started.move_id,
                to_shard: open.started.to_shard,
                shard_count: open.started.shard_count,
            })
        }
        Some(open) => (open.started, open.cutover, true),
        None => {
            if provisioned.database_shard == to && !elsewhere(db, n, company, to).await? {
                return Err(Error::NothingToMove { company, shard: to });
            }
            let from = provisioned.database_shard;
            if let Some(pool) = usize::try_from(from).ok().and_then(|i| db.shards.get(i)) {
                let jobs = rows::jobs(pool, company).await?;
                if jobs > 0 {
                    return Err(Error::HasJobs {
                        company,
                        shard: from,
                        jobs,
                    });
                }
            }
            let meta = Meta::root(company);
            let started = TenantMoveStarted {
                move_id: meta.event_id,
                meta,
                from_shard: provisioned.database_shard,
                to_shard: to,
                shard_count: n,
            };
            producer
                .publish(&Event::TenantMoveStarted(started.clone()))
                .await?;
            (started, None, false)
        }
    };
    let cutover = match cutover {
        Some(c) => c,
        None => {
            let cutover = TenantProvisioned {
                meta: Meta::caused_by(&started.meta),
                database_shard: to,
                ..provisioned
            };
            producer
                .publish(&Event::TenantProvisioned(cutover.clone()))
                .await?;
            cutover
        }
    };
    Ok((started, cutover, resumed))
}

/// Whether decisions put any of the company's usage in a shard other than `to`.
async fn elsewhere(db: &Databases, n: i32, company: Uuid, to: i32) -> Result<bool, Error> {
    Ok(rows::epochs(&db.control, n, company)
        .await?
        .iter()
        .any(|e| e.2 != to))
}

/// Reads the company's records of every run from the log and applies them in the target.
/// Returns the idempotency keys read, per source shard.
async fn build(
    setup: &MoveSetup,
    db: &Databases,
    company: Uuid,
    to: i32,
    runs: &[rows::SourceRun],
) -> Result<BTreeMap<i32, BTreeSet<String>>, Error> {
    let topic = setup.kafka.topic("usage");
    let key = trestle_kafka::company_key(&company);
    let mut keys: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
    let mut by_partition: BTreeMap<i32, Vec<&rows::SourceRun>> = BTreeMap::new();
    for r in runs {
        by_partition.entry(r.partition).or_default().push(r);
        keys.entry(r.shard).or_default();
    }
    for (partition, runs) in by_partition {
        let (from, last) = (runs[0].from, runs[runs.len() - 1].until - 1);
        let mut records = Vec::new();
        log::read(
            &setup.kafka,
            &topic,
            partition,
            from,
            Some(last),
            |record| {
                let Some(run) = runs
                    .iter()
                    .find(|r| (r.from..r.until).contains(&record.offset))
                else {
                    return;
                };
                if record.key.as_deref() != Some(key.as_bytes()) {
                    return;
                }
                // Undecodable records were dead-lettered by the projectors, and counted nowhere.
                if let Some(Ok(Event::UsageRecorded(usage))) =
                    record.payload.as_deref().map(trestle_events::decode)
                {
                    if usage.meta.company_id == company {
                        keys.entry(run.shard)
                            .or_default()
                            .insert(usage.idempotency_key.clone());
                        records.push(Usage {
                            usage,
                            topic: record.topic.clone(),
                            partition,
                            offset: record.offset,
                        });
                    }
                }
            },
        )
        .await?;
        for chunk in records.chunks(BUILD_BATCH) {
            apply_with_retry(&db.shards[to as usize], chunk).await?;
        }
    }
    Ok(keys)
}

/// Applies records in one transaction, retried with backoff: the target's own projector
/// writes the company's period rows at the same time, and a deadlock between the two aborts
/// one of them (applying again is safe: idempotent by key).
async fn apply_with_retry(pool: &PgPool, records: &[Usage]) -> Result<(), Error> {
    let once = || async {
        let mut tx = pool.begin().await?;
        apply_batch(&mut tx, records.to_vec()).await?;
        tx.commit().await
    };
    once.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_times(8),
    )
    .notify(|error, delay| {
        tracing::warn!(message = "Applying moved usage failed; retrying.", %error, retry_in_ms = delay.as_millis() as u64);
    })
    .await
    .map_err(pg("applying the company's usage in the target shard"))
}

/// Checks a source against the log and the target before anything is removed from it: the
/// target holds every record the log routed to the source, and the source's rows of the company
/// are exactly those (count and digest), unless this move already removed them.
async fn compare(
    db: &Databases,
    company: Uuid,
    shard: i32,
    to: i32,
    keys: &BTreeSet<String>,
    relabelled: bool,
) -> Result<(), Error> {
    let keys: Vec<String> = keys.iter().cloned().collect();
    let target = rows::digest(&db.shards[to as usize], company, Some(&keys)).await?;
    let source = rows::digest(&db.shards[shard as usize], company, None).await?;
    let differs = |detail: String| Error::Differs {
        company,
        shard,
        detail,
    };
    if target.0 != keys.len() as i64 {
        return Err(differs(format!(
            "the log routed {} records to it, the target holds {} of them",
            keys.len(),
            target.0
        )));
    }
    if source.0 == 0 && (keys.is_empty() || relabelled) {
        return Ok(()); // nothing there, or removed by this move before it was interrupted
    }
    if source != target {
        return Err(differs(format!(
            "source {} rows (digest {}), the log's records in the target {} rows (digest {})",
            source.0, source.1, target.0, target.1
        )));
    }
    Ok(())
}

/// Publishes `TenantMoved` with the digest of every moved record's row in the target.
async fn finish(
    producer: &EventProducer,
    db: &Databases,
    started: &TenantMoveStarted,
    keys: BTreeMap<i32, BTreeSet<String>>,
    resumed: bool,
) -> Result<MoveReport, Error> {
    let company = started.meta.company_id;
    let to = started.to_shard;
    let all: Vec<String> = keys.values().flatten().cloned().collect();
    let (records, usage_digest) =
        rows::digest(&db.shards[to as usize], company, Some(&all)).await?;
    let moved: BTreeMap<i32, i64> = keys.iter().map(|(s, k)| (*s, k.len() as i64)).collect();
    let moved_event = TenantMoved {
        meta: Meta::caused_by(&started.meta),
        move_id: started.move_id,
        from_shard: started.from_shard,
        to_shard: to,
        shard_count: started.shard_count,
        usage_records: records,
        usage_digest: usage_digest.clone(),
    };
    producer.publish(&Event::TenantMoved(moved_event)).await?;
    Ok(MoveReport {
        move_id: started.move_id,
        company,
        from_shard: started.from_shard,
        to_shard: to,
        resumed,
        moved,
        usage_digest,
    })
}
