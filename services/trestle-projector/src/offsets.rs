//! The projector's own offsets in Postgres: read and locked at the start of a batch
//! transaction, advanced in the same transaction as the rows.

use std::collections::BTreeMap;

use sqlx::PgConnection;

/// Locks the offset rows of `partitions` (creating them at 0) and returns the next offset to
/// apply for each. Rows are locked in partition order, so concurrent batches cannot deadlock.
pub(crate) async fn lock(
    conn: &mut PgConnection,
    projector: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO projector_offsets (projector, topic, partition, next_offset)
         SELECT $1, $2, p, 0 FROM unnest($3::int4[]) AS p
         ON CONFLICT DO NOTHING",
    )
    .bind(projector)
    .bind(topic)
    .bind(partitions)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT partition, next_offset FROM projector_offsets
         WHERE projector = $1 AND topic = $2 AND partition = ANY($3)
         ORDER BY partition FOR UPDATE",
    )
    .bind(projector)
    .bind(topic)
    .bind(partitions)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Advances the stored offsets (never backwards).
pub(crate) async fn advance(
    conn: &mut PgConnection,
    projector: &str,
    topic: &str,
    next: &BTreeMap<i32, i64>,
) -> Result<(), sqlx::Error> {
    let partitions: Vec<i32> = next.keys().copied().collect();
    let offsets: Vec<i64> = next.values().copied().collect();
    sqlx::query(
        "UPDATE projector_offsets o SET next_offset = GREATEST(o.next_offset, n.off), updated_at = now()
         FROM unnest($3::int4[], $4::int8[]) AS n(p, off)
         WHERE o.projector = $1 AND o.topic = $2 AND o.partition = n.p",
    )
    .bind(projector)
    .bind(topic)
    .bind(&partitions)
    .bind(&offsets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A projector's stored next offsets, by (topic, partition), for seeking on assignment.
pub(crate) async fn read(
    pool: &sqlx::PgPool,
    projector: &str,
) -> Result<BTreeMap<(String, i32), i64>, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM projector_offsets WHERE projector = $1",
    )
    .bind(projector)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}
