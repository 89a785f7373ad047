//! The raw COPY baseline: the projector's `usage_records` rows written with one Postgres
//! binary `COPY ... FROM STDIN (FORMAT binary)`, encoded here by hand.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

/// One `usage_records` row, as the projector would insert it.
pub(crate) struct Row {
    pub idempotency_key: String,
    pub company_id: Uuid,
    pub request_id: Uuid,
    pub meter: &'static str,
    pub quantity_milli: i64,
    pub cost_micro_usd: i64,
    pub price_book_version: i32,
    pub occurred_at: DateTime<Utc>,
    pub event_id: Uuid,
    pub source_partition: i32,
    pub source_offset: i64,
}

/// The table the baseline writes into: `usage_records` with the same columns, defaults,
/// primary key and index, but without row-level security (`LIKE` does not copy it), because
/// `COPY FROM` is refused on a table whose row-level security applies to the caller.
pub(crate) const TABLE: &str = "usage_records_copy";

const COLUMNS: &str = "idempotency_key, company_id, request_id, meter, quantity_milli, \
     cost_micro_usd, price_book_version, occurred_at, event_id, source_topic, source_partition, \
     source_offset";

/// Rows per `CopyData` message (about 1.5 MB).
const CHUNK_ROWS: usize = 8_192;

/// Microseconds from the Unix epoch to Postgres's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Signature, flags (no OIDs) and header-extension length of the binary COPY format.
pub(crate) fn header() -> Vec<u8> {
    let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out
}

/// The file trailer: a field count of -1.
pub(crate) const TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// Appends one tuple in binary COPY format, columns in [`COLUMNS`] order.
pub(crate) fn push_row(out: &mut Vec<u8>, row: &Row, topic: &str) {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&12i16.to_be_bytes());
    field(out, row.idempotency_key.as_bytes());
    field(out, row.company_id.as_bytes());
    field(out, row.request_id.as_bytes());
    field(out, row.meter.as_bytes());
    field(out, &row.quantity_milli.to_be_bytes());
    field(out, &row.cost_micro_usd.to_be_bytes());
    field(out, &row.price_book_version.to_be_bytes());
    let micros = row.occurred_at.timestamp_micros() - PG_EPOCH_UNIX_MICROS;
    field(out, &micros.to_be_bytes());
    field(out, row.event_id.as_bytes());
    field(out, topic.as_bytes());
    field(out, &row.source_partition.to_be_bytes());
    field(out, &row.source_offset.to_be_bytes());
}

/// Creates [`TABLE`] in the database of `owner_url`, then times encoding and copying `rows`
/// in one `COPY` statement (its own transaction, committed with the server's
/// `synchronous_commit`). Returns the wall time of the copy.
pub(crate) async fn baseline(
    owner_url: &str,
    rows: &[Row],
    topic: &str,
) -> anyhow::Result<Duration> {
    let mut conn = PgConnection::connect(owner_url)
        .await
        .context("connecting as the owner for the COPY baseline")?;
    conn.execute(format!("CREATE TABLE {TABLE} (LIKE usage_records INCLUDING ALL)").as_str())
        .await
        .context("creating the COPY target table")?;

    let start = Instant::now();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {TABLE} ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .context("starting COPY")?;
    let mut buf = header();
    for chunk in rows.chunks(CHUNK_ROWS) {
        for row in chunk {
            push_row(&mut buf, row, topic);
        }
        copy.send(std::mem::take(&mut buf))
            .await
            .context("sending COPY data")?;
    }
    copy.send(TRAILER.as_slice())
        .await
        .context("sending the COPY trailer")?;
    let copied = copy.finish().await.context("finishing COPY")?;
    let elapsed = start.elapsed();

    anyhow::ensure!(
        copied == rows.len() as u64,
        "COPY reported {copied} rows, expected {}",
        rows.len()
    );
    let (count, cost): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*)::int8, coalesce(sum(cost_micro_usd), 0)::int8 FROM {TABLE}"
    ))
    .fetch_one(&mut conn)
    .await
    .context("counting copied rows")?;
    let want_cost: i64 = rows.iter().map(|r| r.cost_micro_usd).sum();
    anyhow::ensure!(
        count == rows.len() as i64 && cost == want_cost,
        "the COPY table holds {count} rows costing {cost}, expected {} costing {want_cost}",
        rows.len()
    );
    conn.close().await.ok();
    Ok(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_copy_tuples_follow_the_postgres_wire_layout() {
        assert_eq!(header().len(), 19);
        assert_eq!(&header()[..11], b"PGCOPY\n\xff\r\n\0");
        let row = Row {
            idempotency_key: "k".into(),
            company_id: Uuid::nil(),
            request_id: Uuid::nil(),
            meter: "gemini_flash_queries",
            quantity_milli: 1000,
            cost_micro_usd: 100,
            price_book_version: 1,
            occurred_at: DateTime::from_timestamp(946_684_800, 0).unwrap(),
            event_id: Uuid::nil(),
            source_partition: 3,
            source_offset: 7,
        };
        let mut out = Vec::new();
        push_row(&mut out, &row, "t");
        // field count, then 12 length words, then the values
        let values = 1 + 16 + 16 + 20 + 8 + 8 + 4 + 8 + 16 + 1 + 4 + 8;
        assert_eq!(out.len(), 2 + 12 * 4 + values);
        assert_eq!(&out[..2], &12i16.to_be_bytes());
        // occurred_at at Postgres's epoch is zero microseconds
        let ts_at = 2 + 4 + 1 + 4 + 16 + 4 + 16 + 4 + 20 + 4 + 8 + 4 + 8 + 4 + 4 + 4;
        assert_eq!(&out[ts_at - 4..ts_at], &8i32.to_be_bytes());
        assert_eq!(&out[ts_at..ts_at + 8], &0i64.to_be_bytes());
    }
}
