//! A move's database steps: the cut-over and re-labelling in the control database's routing
//! decisions (`usage_shard_heads`, `usage_shard_epochs`), and in the shards the wait for the
//! source's projector, the digests, the billing row and the removal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::{pg, Error};

/// A run of a company's usage offsets in one usage partition that the decisions give (or,
/// before this move re-labelled them, gave) to a shard other than the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceRun {
    pub(crate) partition: i32,
    /// First offset of the run.
    pub(crate) from: i64,
    /// Offset after its last (the next run's first).
    pub(crate) until: i64,
    /// The shard whose usage projector applied it.
    pub(crate) shard: i32,
}

/// One epoch as stored: (partition, from_offset, shard, moved_from, moved_by).
pub(crate) type Epoch = (i32, i64, i32, Option<i32>, Option<Uuid>);

/// The usage partitions the decisions know for the company.
pub(super) async fn partitions(control: &PgPool, n: i32, company: Uuid) -> Result<Vec<i32>, Error> {
    sqlx::query_scalar(
        "SELECT source_partition FROM usage_shard_heads
          WHERE shard_count = $1 AND company_id = $2 ORDER BY source_partition",
    )
    .bind(n)
    .bind(company)
    .fetch_all(control)
    .await
    .map_err(pg("reading the company's usage partitions"))
}

/// The cut-over: every offset not decided yet, in each of `partitions`, goes to `to` — the
/// decision a usage projector that has read the cut-over provisioning (`provisioned_at`) takes
/// anyway, taken now, so no projector that has not read it yet can still route a later record
/// to the source. Decides nothing (`lasts` = -1); an already newer decision is left alone.
pub(super) async fn cut_over(
    control: &PgPool,
    n: i32,
    company: Uuid,
    partitions: &[i32],
    to: i32,
    provisioned_at: DateTime<Utc>,
) -> Result<(), Error> {
    let k = partitions.len();
    sqlx::query("SELECT count(*) FROM decide_usage_shards($1, $2, $3, $4, $5, $6)")
        .bind(n)
        .bind(vec![company; k])
        .bind(partitions)
        .bind(vec![-1i64; k])
        .bind(vec![to; k])
        .bind(vec![provisioned_at; k])
        .execute(control)
        .await
        .map_err(pg("cutting the company's usage routing over"))?;
    Ok(())
}

/// Every epoch of the company's decisions, by partition and offset.
pub(super) async fn epochs(control: &PgPool, n: i32, company: Uuid) -> Result<Vec<Epoch>, Error> {
    sqlx::query_as(
        "SELECT source_partition, from_offset, shard, moved_from, moved_by FROM usage_shard_epochs
          WHERE shard_count = $1 AND company_id = $2 ORDER BY source_partition, from_offset",
    )
    .bind(n)
    .bind(company)
    .fetch_all(control)
    .await
    .map_err(pg("reading the company's usage routing decisions"))
}

/// The runs to move to `to` under move `move_id`, from `epochs` (sorted by partition and
/// offset): runs decided to another shard, and runs this move already re-labelled (where they
/// were). The latest epoch of each partition must be the target's (the cut-over took), so
/// every run has an end. Pure, so the rule is tested without a database.
pub(crate) fn source_runs(
    company: Uuid,
    epochs: &[Epoch],
    to: i32,
    move_id: Uuid,
) -> Result<Vec<SourceRun>, Error> {
    let mut runs = Vec::new();
    for (i, &(partition, from, shard, moved_from, moved_by)) in epochs.iter().enumerate() {
        let next = epochs.get(i + 1).filter(|e| e.0 == partition);
        let source = match (moved_by, moved_from) {
            (Some(m), Some(was)) if m == move_id => Some(was),
            _ if shard != to => Some(shard),
            _ => None,
        };
        match (next, source) {
            (None, _) if shard != to => {
                return Err(Error::CutOverNotTaken {
                    company,
                    partition,
                    shard,
                    to_shard: to,
                })
            }
            (Some(next), Some(source)) if source != to => runs.push(SourceRun {
                partition,
                from,
                until: next.1,
                shard: source,
            }),
            _ => {}
        }
    }
    Ok(runs)
}

/// Whether this move already re-labelled any of the company's decisions.
pub(super) fn relabelled(epochs: &[Epoch], move_id: Uuid) -> bool {
    epochs.iter().any(|e| e.4 == Some(move_id))
}

/// Re-labels the company's decisions for other shards to `to`, keeping where they were and
/// which move did it: from now on every shard's projector (and any rebuild) routes those
/// records to the target.
pub(super) async fn relabel(
    control: &PgPool,
    n: i32,
    company: Uuid,
    to: i32,
    move_id: Uuid,
) -> Result<u64, Error> {
    let done = sqlx::query(
        "UPDATE usage_shard_epochs SET moved_from = shard, moved_by = $4, shard = $3
          WHERE shard_count = $1 AND company_id = $2 AND shard <> $3",
    )
    .bind(n)
    .bind(company)
    .bind(to)
    .bind(move_id)
    .execute(control)
    .await
    .map_err(pg("re-labelling the company's usage routing decisions"))?;
    Ok(done.rows_affected())
}

/// Waits until the usage projector of a shard (offsets under `projector`) has applied
/// `topic[partition]` below `until`: every record of the runs it was given is then in its
/// tables, and none of them can come later.
pub(super) async fn wait_applied(
    pool: &PgPool,
    shard: i32,
    projector: &str,
    topic: &str,
    partition: i32,
    until: i64,
    timeout: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT next_offset FROM projector_offsets
              WHERE projector = $1 AND topic = $2 AND partition = $3",
        )
        .bind(projector)
        .bind(topic)
        .bind(partition)
        .fetch_optional(pool)
        .await
        .map_err(pg(format!("reading shard {shard}'s usage offsets")))?;
        if stored.is_some_and(|s| s >= until) {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(Error::SourceBehind {
                shard,
                topic: topic.to_owned(),
                partition,
                offset: until - 1,
                stored,
                waited_ms: timeout.as_millis() as u64,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A count and an order-independent digest (md5 of the sorted md5s) of the company's usage
/// rows, all of them or those with the given idempotency keys, read as the tenant. The columns
/// are the record's content, not where in the log it came from: a record re-published at
/// another offset is the same record.
pub(super) async fn digest(
    pool: &PgPool,
    company: Uuid,
    keys: Option<&[String]>,
) -> Result<(i64, String), Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let row: (i64, String) = sqlx::query_as(
        "SELECT count(*)::int8, coalesce(md5(string_agg(h, '' ORDER BY h)), '')
           FROM (SELECT md5(row(idempotency_key, request_id, meter, quantity_milli,
                                cost_micro_usd, price_book_version,
                                occurred_at AT TIME ZONE 'UTC', event_id)::text) AS h
                   FROM usage_records
                  WHERE company_id = $1 AND ($2::text[] IS NULL OR idempotency_key = ANY($2))) r",
    )
    .bind(company)
    .bind(keys)
    .fetch_one(&mut *tx)
    .await
    .map_err(pg("hashing the company's usage rows"))?;
    tx.commit()
        .await
        .map_err(pg("hashing the company's usage rows"))?;
    Ok(row)
}

/// The company's billing row (`company_tiers`) of `source`, copied to `target` unless the
/// target has one (the billing projection folds registrations into every database it runs
/// on). Returns whether one was copied.
pub(super) async fn copy_tier(
    source: &PgPool,
    target: &PgPool,
    company: Uuid,
) -> Result<bool, Error> {
    type Tier = (String, DateTime<Utc>, Uuid, String, i32, i64);
    let read = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            let mut tx = trestle_store::begin_for_tenant(&pool, company).await?;
            let row: Option<Tier> = sqlx::query_as(
                "SELECT tier, registered_at, event_id, source_topic, source_partition, source_offset
                   FROM company_tiers WHERE company_id = $1",
            )
            .bind(company)
            .fetch_optional(&mut *tx)
            .await
            .map_err(pg("reading the company's tier"))?;
            tx.commit()
                .await
                .map_err(pg("reading the company's tier"))?;
            Ok::<_, Error>(row)
        }
    };
    let (Some(row), None) = (read(source).await?, read(target).await?) else {
        return Ok(false);
    };
    sqlx::query("SELECT apply_company_tiers($1, $2, $3, $4, $5, $6, $7)")
        .bind(&row.3)
        .bind(vec![company])
        .bind(vec![row.0])
        .bind(vec![row.1])
        .bind(vec![row.2])
        .bind(vec![row.4])
        .bind(vec![row.5])
        .execute(target)
        .await
        .map_err(pg("copying the company's tier to the target shard"))?;
    Ok(true)
}

/// Removes the company's rows from a source shard, as the owning role with the tenant set
/// (row-level security applies to the owner too: forced), in one transaction. Returns rows
/// removed per table.
pub(super) async fn remove(
    owner: &PgPool,
    company: Uuid,
) -> Result<BTreeMap<&'static str, u64>, Error> {
    let mut tx = trestle_store::begin_for_tenant(owner, company).await?;
    let mut removed = BTreeMap::new();
    for table in ["usage_records", "company_ai_usage", "company_tiers"] {
        let done = sqlx::query(&format!("DELETE FROM {table} WHERE company_id = $1"))
            .bind(company)
            .execute(&mut *tx)
            .await
            .map_err(pg(format!("removing the company's {table} rows")))?;
        removed.insert(table, done.rows_affected());
    }
    tx.commit()
        .await
        .map_err(pg("removing the company's rows"))?;
    Ok(removed)
}

/// How many rows of the company each of the tables holds (read as the tenant).
pub(super) async fn rows_left(pool: &PgPool, company: Uuid) -> Result<i64, Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM usage_records WHERE company_id = $1)
              + (SELECT count(*) FROM company_ai_usage WHERE company_id = $1)
              + (SELECT count(*) FROM company_tiers WHERE company_id = $1)",
    )
    .bind(company)
    .fetch_one(&mut *tx)
    .await
    .map_err(pg("counting the company's rows"))?;
    tx.commit()
        .await
        .map_err(pg("counting the company's rows"))?;
    Ok(n)
}

/// How many jobs (the notebook workflow's state) the company has in the shard.
pub(super) async fn jobs(pool: &PgPool, company: Uuid) -> Result<i64, Error> {
    let mut tx = trestle_store::begin_for_tenant(pool, company).await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE company_id = $1")
        .bind(company)
        .fetch_one(&mut *tx)
        .await
        .map_err(pg("counting the company's jobs"))?;
    tx.commit()
        .await
        .map_err(pg("counting the company's jobs"))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(p: i32, from: i64, shard: i32) -> Epoch {
        (p, from, shard, None, None)
    }

    #[test]
    fn runs_are_the_offsets_decided_to_other_shards_up_to_the_cut_over() {
        let (c, m) = (Uuid::now_v7(), Uuid::now_v7());
        let epochs = [
            epoch(0, 0, 0),
            epoch(0, 10, 2),
            epoch(0, 25, 1),
            epoch(0, 40, 2),
            epoch(1, 0, 1),
            epoch(1, 7, 1),
            epoch(1, 9, 2),
        ];
        let runs = source_runs(c, &epochs, 2, m).unwrap();
        let got: Vec<(i32, i64, i64, i32)> = runs
            .iter()
            .map(|r| (r.partition, r.from, r.until, r.shard))
            .collect();
        assert_eq!(
            got,
            vec![(0, 0, 10, 0), (0, 25, 40, 1), (1, 0, 7, 1), (1, 7, 9, 1)]
        );
    }

    #[test]
    fn runs_this_move_relabelled_are_still_found_where_they_were() {
        let (c, m) = (Uuid::now_v7(), Uuid::now_v7());
        let other = Uuid::now_v7();
        let epochs = [
            (0, 0, 2, Some(0), Some(m)),
            (0, 10, 2, Some(1), Some(other)), // an earlier move's: already the target's
            (0, 20, 2, None, None),
        ];
        let runs = source_runs(c, &epochs, 2, m).unwrap();
        assert_eq!(
            runs,
            vec![SourceRun {
                partition: 0,
                from: 0,
                until: 10,
                shard: 0
            }]
        );
        assert!(relabelled(&epochs, m));
        assert!(!relabelled(&epochs, Uuid::now_v7()));
    }

    #[test]
    fn a_partition_whose_latest_decision_is_not_the_target_stops_the_move() {
        let (c, m) = (Uuid::now_v7(), Uuid::now_v7());
        let epochs = [epoch(0, 0, 0), epoch(0, 5, 1)];
        assert!(matches!(
            source_runs(c, &epochs, 0, m),
            Err(Error::CutOverNotTaken {
                partition: 0,
                shard: 1,
                ..
            })
        ));
    }
}
