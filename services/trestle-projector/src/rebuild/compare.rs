//! Step 3 of a rebuild, the comparison: every owned table's rows, per company (under the
//! tenant setting, as any reader sees them) or as one group for a table without `company_id`,
//! hashed in the live and the rebuilt schema.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgConnection;
use uuid::Uuid;

use super::error::{pg, Error};
use super::{ident, Difference};

/// What the comparison found.
pub(super) struct Comparison {
    /// Company groups compared (per table).
    pub(super) groups_compared: usize,
    pub(super) differences: Vec<Difference>,
}

/// Compares every table of `tables` in `public` with its copy in `schema`, for the companies
/// in `keys` and every company the rebuilt tables hold.
pub(super) async fn compare(
    conn: &mut PgConnection,
    schema: &str,
    tables: &[&str],
    keys: &BTreeSet<Uuid>,
) -> Result<Comparison, Error> {
    let mut companies: BTreeSet<Uuid> = keys.clone();
    for table in tables {
        if has_column(conn, schema, table, "company_id").await? {
            let found: Vec<(Uuid,)> = sqlx::query_as(&format!(
                "SELECT DISTINCT company_id FROM {}.{}",
                ident(schema),
                ident(table)
            ))
            .fetch_all(&mut *conn)
            .await
            .map_err(pg(format!("reading the companies of {schema}.{table}")))?;
            companies.extend(found.into_iter().map(|(c,)| c));
        }
    }
    let companies: Vec<Uuid> = companies.into_iter().collect();
    sqlx::query(HASH_FUNCTION)
        .execute(&mut *conn)
        .await
        .map_err(pg("creating the hash function"))?;
    let mut comparison = Comparison {
        groups_compared: 0,
        differences: Vec::new(),
    };
    for table in tables {
        let columns = compared_columns(conn, schema, table).await?;
        let scoped = has_column(conn, schema, table, "company_id").await?;
        let scope = scoped.then_some(&companies);
        let live = hashes(conn, "public", table, &columns, scope).await?;
        let rebuilt = hashes(conn, schema, table, &columns, scope).await?;
        comparison.groups_compared += live.len();
        for (company, l) in &live {
            let r = rebuilt.get(company).cloned().unwrap_or((0, String::new()));
            if *l != r {
                comparison.differences.push(Difference {
                    table: (*table).to_owned(),
                    company_id: *company,
                    live: l.clone(),
                    rebuilt: r,
                });
            }
        }
    }
    Ok(comparison)
}

/// Hashes a table's rows per company (setting the tenant for each, so row-level security
/// applies as to any reader) or, with no companies, as one group: a row count and an
/// order-independent digest (md5 of the sorted md5s of the rows' text).
const HASH_FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION pg_temp.trestle_rebuild_hashes(tbl TEXT, cols TEXT, companies UUID[])
RETURNS TABLE (company UUID, row_count BIGINT, digest TEXT)
LANGUAGE plpgsql AS $fn$
DECLARE
  c UUID;
BEGIN
  IF companies IS NULL THEN
    RETURN QUERY EXECUTE format(
      'SELECT NULL::uuid, count(*), coalesce(md5(string_agg(h, '''' ORDER BY h)), '''')
         FROM (SELECT md5(ROW(%s)::text) AS h FROM %s) s', cols, tbl);
    RETURN;
  END IF;
  FOREACH c IN ARRAY companies LOOP
    PERFORM set_config('trestle.company_id', c::text, true);
    RETURN QUERY EXECUTE format(
      'SELECT $1, count(*), coalesce(md5(string_agg(h, '''' ORDER BY h)), '''')
         FROM (SELECT md5(ROW(%s)::text) AS h FROM %s WHERE company_id = $1) s', cols, tbl)
      USING c;
  END LOOP;
  PERFORM set_config('trestle.company_id', '', true);
END
$fn$
"#;

/// (rows, digest) per company (`None`: the whole table).
type Hashes = BTreeMap<Option<Uuid>, (i64, String)>;

/// One table's groups, hashed by the temporary function.
async fn hashes(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
    columns: &[String],
    companies: Option<&Vec<Uuid>>,
) -> Result<Hashes, Error> {
    let cols = columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<(Option<Uuid>, i64, String)> = sqlx::query_as(
        "SELECT company, row_count, digest FROM pg_temp.trestle_rebuild_hashes($1, $2, $3)",
    )
    .bind(format!("{}.{}", ident(schema), ident(table)))
    .bind(cols)
    .bind(companies)
    .fetch_all(&mut *conn)
    .await
    .map_err(pg(format!("hashing {schema}.{table}")))?;
    Ok(rows.into_iter().map(|(c, n, d)| (c, (n, d))).collect())
}

/// The columns compared: all but those the database fills at write time (surrogate ids and
/// timestamps by default or identity, `updated_at`), which no two projections agree on.
async fn compared_columns(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, Error> {
    let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT a.attname::text, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text
           FROM pg_attribute a
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = ($1 || '.' || $2)::regclass AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
    )
    .bind(ident(schema))
    .bind(ident(table))
    .fetch_all(&mut *conn)
    .await
    .map_err(pg(format!("reading the columns of {schema}.{table}")))?;
    Ok(rows
        .into_iter()
        .filter(|(name, default, identity)| {
            let generated = default.as_deref().is_some_and(|d| {
                let d = d.to_ascii_lowercase();
                [
                    "gen_random_uuid",
                    "uuid_generate",
                    "nextval",
                    "now()",
                    "current_timestamp",
                    "clock_timestamp",
                ]
                .iter()
                .any(|f| d.contains(f))
            });
            !generated && identity.trim_matches('\0').is_empty() && name != "updated_at"
        })
        .map(|(name, _, _)| name)
        .collect())
}

/// Whether `schema.table` has `column`.
async fn has_column(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
    column: &str,
) -> Result<bool, Error> {
    let found: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
    )
    .bind(schema)
    .bind(table)
    .bind(column)
    .fetch_optional(&mut *conn)
    .await
    .map_err(pg(format!("reading the columns of {schema}.{table}")))?;
    Ok(found.is_some())
}
