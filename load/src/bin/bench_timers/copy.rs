//! The projection's baseline: the same `timers` rows the projection inserts, written with one
//! Postgres binary `COPY ... FROM STDIN (FORMAT binary)` into a copy of the table.
//!
//! The COPY stream is encoded into one buffer before the clock starts (one allocation, handed
//! back to the system when dropped, so it does not inflate the resident memory measured
//! later), then sent in 1 MiB messages and committed, timed.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};

use crate::workload::Workload;

/// The table the baseline writes into: `timers` with the same columns, defaults, checks,
/// primary key and partial index on pending due times (`LIKE ... INCLUDING ALL`).
const TABLE: &str = "timers_copy";

/// The columns the projection's `apply_timers` sets for a scheduled timer (`state` is the
/// default, `pending`; `fired_at` null).
const COLUMNS: &str = "company_id, timer_id, due_at, topic, record_key, event, set_by";

/// Bytes per `CopyData` message.
const MESSAGE_BYTES: usize = 1 << 20;

/// Microseconds from the Unix epoch to Postgres's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// What the COPY baseline measured.
pub(crate) struct Copied {
    pub elapsed: Duration,
    /// Size of the binary COPY stream.
    pub stream_bytes: usize,
    /// `pg_total_relation_size` of the copy (heap, indexes, TOAST).
    pub table_bytes: i64,
}

/// Copies every timer of `workload` into [`TABLE`] (created in the database of `owner_url`,
/// dropped afterwards) in one statement and one transaction.
pub(crate) async fn baseline(owner_url: &str, workload: &Workload) -> anyhow::Result<Copied> {
    let stream = encode(workload)?;
    let mut conn = PgConnection::connect(owner_url)
        .await
        .context("connecting as the owner for the COPY baseline")?;
    conn.execute(format!("CREATE TABLE {TABLE} (LIKE timers INCLUDING ALL)").as_str())
        .await
        .context("creating the COPY target table")?;

    let start = Instant::now();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {TABLE} ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .context("starting COPY")?;
    for message in stream.chunks(MESSAGE_BYTES) {
        copy.send(message).await.context("sending COPY data")?;
    }
    let copied = copy.finish().await.context("finishing COPY")?;
    let elapsed = start.elapsed();
    let stream_bytes = stream.len();
    drop(stream);

    anyhow::ensure!(
        copied == workload.n as u64,
        "COPY reported {copied} rows, expected {}",
        workload.n
    );
    let (pending, table_bytes): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*) FILTER (WHERE state = 'pending')::int8, \
                pg_total_relation_size('{TABLE}')::int8 FROM {TABLE}"
    ))
    .fetch_one(&mut conn)
    .await
    .context("counting copied rows")?;
    anyhow::ensure!(
        pending == workload.n as i64,
        "the COPY table holds {pending} pending timers, expected {}",
        workload.n
    );
    conn.execute(format!("DROP TABLE {TABLE}").as_str())
        .await
        .context("dropping the COPY table")?;
    conn.close().await.ok();
    Ok(Copied {
        elapsed,
        stream_bytes,
        table_bytes,
    })
}

/// The whole binary COPY stream: header, one tuple per timer, trailer.
fn encode(workload: &Workload) -> anyhow::Result<Vec<u8>> {
    let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for i in 0..workload.n {
        let t = workload.timer(i);
        let event = trestle_events::encode(&t.event)?;
        let set_by = uuid::Uuid::from_u128(i as u128 + 1);
        push_row(
            &mut out,
            &Row {
                company_id: workload.companies[t.company],
                timer_id: &t.timer_id,
                due_micros: t.due.timestamp_micros(),
                topic: t.topic().name(),
                record_key: &workload.keys[t.company],
                event: &event,
                set_by,
            },
        );
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(out)
}

/// One `timers` row, as the projection inserts it.
struct Row<'a> {
    company_id: uuid::Uuid,
    timer_id: &'a str,
    /// Microseconds since the Unix epoch.
    due_micros: i64,
    topic: &'a str,
    record_key: &'a str,
    event: &'a [u8],
    set_by: uuid::Uuid,
}

/// Appends one tuple in binary COPY format, columns in [`COLUMNS`] order.
fn push_row(out: &mut Vec<u8>, row: &Row<'_>) {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&7i16.to_be_bytes());
    field(out, row.company_id.as_bytes());
    field(out, row.timer_id.as_bytes());
    field(out, &(row.due_micros - PG_EPOCH_UNIX_MICROS).to_be_bytes());
    field(out, row.topic.as_bytes());
    field(out, row.record_key.as_bytes());
    field(out, row.event);
    field(out, row.set_by.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_copy_tuples_follow_the_postgres_wire_layout() {
        let row = Row {
            company_id: uuid::Uuid::nil(),
            timer_id: "t",
            due_micros: PG_EPOCH_UNIX_MICROS,
            topic: "notebooks",
            record_key: "k",
            event: &[1, 2, 3],
            set_by: uuid::Uuid::nil(),
        };
        let mut out = Vec::new();
        push_row(&mut out, &row);
        // field count, 7 length words, then the values
        assert_eq!(out.len(), 2 + 7 * 4 + 16 + 1 + 8 + 9 + 1 + 3 + 16);
        assert_eq!(&out[..2], &7i16.to_be_bytes());
        // due_at at Postgres's epoch is zero microseconds
        let due_at = 2 + 4 + 16 + 4 + 1 + 4;
        assert_eq!(&out[due_at - 4..due_at], &8i32.to_be_bytes());
        assert_eq!(&out[due_at..due_at + 8], &0i64.to_be_bytes());
    }
}
