//! Step 4 of a rebuild, the swap: in the transaction that paused the live projector, the live
//! owned tables move to `replaced_<projector>_<ts>` (with a copy of their offsets), the rebuilt
//! ones to `public`, and views over them are re-created; plus the SQL to undo or finish it.

use sqlx::{PgConnection, Postgres, Transaction};

use super::error::{pg, Error};
use super::{ident, Plan, Swapped};

/// Swaps the plan's tables in and commits `lock`; returns how to roll back or clean up.
pub(super) async fn swap(
    mut lock: Transaction<'_, Postgres>,
    plan: &Plan,
    swap_lock_timeout_ms: u64,
) -> Result<Swapped, Error> {
    let (schema, replaced, tables) = (&plan.schema, &plan.replaced, plan.tables);
    execute(
        &mut lock,
        &format!("SET LOCAL lock_timeout = {swap_lock_timeout_ms}"),
    )
    .await?;
    let views = dependent_views(&mut lock, tables).await?;
    execute(&mut lock, &format!("CREATE SCHEMA {}", ident(replaced))).await?;
    sqlx::query(&format!(
        "CREATE TABLE {r}.projector_offsets AS
         SELECT * FROM public.projector_offsets WHERE projector = $1",
        r = ident(replaced)
    ))
    .bind(&plan.name)
    .execute(&mut *lock)
    .await
    .map_err(pg("copying the live offsets"))?;
    let mut statements = Vec::new();
    for table in tables {
        let t = ident(table);
        statements.extend([
            format!("ALTER TABLE {}.{t} FORCE ROW LEVEL SECURITY", ident(schema)),
            format!("ALTER TABLE public.{t} SET SCHEMA {}", ident(replaced)),
            format!("ALTER TABLE {}.{t} SET SCHEMA public", ident(schema)),
        ]);
    }
    // Views bind tables by identity: re-create them over the swapped-in tables.
    statements.extend(views.iter().map(View::replace_sql));
    for sql in &statements {
        execute(&mut lock, sql).await?;
    }
    lock.commit().await.map_err(pg("committing the swap"))?;
    Ok(Swapped {
        replaced_schema: replaced.clone(),
        rollback_sql: rollback_sql(&plan.name, tables, schema, replaced, &views),
        drop_sql: format!(
            "DROP SCHEMA {} CASCADE;\nDROP SCHEMA {} CASCADE;",
            ident(replaced),
            ident(schema)
        ),
    })
}

/// Runs one statement of the swap.
async fn execute(conn: &mut PgConnection, sql: &str) -> Result<(), Error> {
    sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .map_err(pg(format!("swapping: {sql}")))?;
    Ok(())
}

/// A view over an owned table, to be re-created over the swapped-in table.
struct View {
    name: String,
    definition: String,
    options: Vec<String>,
}

impl View {
    fn replace_sql(&self) -> String {
        let with = if self.options.is_empty() {
            String::new()
        } else {
            format!(" WITH ({})", self.options.join(", "))
        };
        format!(
            "CREATE OR REPLACE VIEW {}{with} AS {}",
            self.name, self.definition
        )
    }
}

/// Views in the database that read the live owned tables (definitions taken while the tables
/// are still `public`, so their names print unqualified and re-resolve after the swap).
async fn dependent_views(conn: &mut PgConnection, tables: &[&str]) -> Result<Vec<View>, Error> {
    let names: Vec<String> = tables
        .iter()
        .map(|t| format!("public.{}", ident(t)))
        .collect();
    let rows: Vec<(String, String, Option<Vec<String>>, String)> = sqlx::query_as(
        "SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(v.relname),
                pg_get_viewdef(v.oid), v.reloptions, v.relkind::text
           FROM pg_depend d
           JOIN pg_rewrite r ON r.oid = d.objid
           JOIN pg_class v ON v.oid = r.ev_class
           JOIN pg_namespace n ON n.oid = v.relnamespace
          WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
            AND d.refobjid = ANY (SELECT unnest($1::text[])::regclass::oid)
            AND v.oid <> ALL (SELECT unnest($1::text[])::regclass::oid)",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await
    .map_err(pg("reading the views over the projection's tables"))?;
    let mut views = Vec::new();
    for (name, definition, options, relkind) in rows {
        if relkind != "v" {
            return Err(Error::CannotSwap(format!("{name} (relkind {relkind}) depends on the projection's tables; only plain views can be re-pointed")));
        }
        views.push(View {
            name,
            definition: definition.trim_end_matches(';').to_owned(),
            options: options.unwrap_or_default(),
        });
    }
    let foreign: Vec<(String,)> = sqlx::query_as(
        "SELECT conname::text FROM pg_constraint
          WHERE contype = 'f'
            AND confrelid = ANY (SELECT unnest($1::text[])::regclass::oid)
            AND conrelid <> ALL (SELECT unnest($1::text[])::regclass::oid)",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await
    .map_err(pg("reading the foreign keys to the projection's tables"))?;
    if let Some((name,)) = foreign.first() {
        return Err(Error::CannotSwap(format!(
            "foreign key {name} of another table references the projection's tables"
        )));
    }
    Ok(views)
}

/// SQL that puts the replaced tables (and their offsets) back.
fn rollback_sql(
    name: &str,
    tables: &[&str],
    schema: &str,
    replaced: &str,
    views: &[View],
) -> String {
    let mut sql = String::from("BEGIN;\n");
    sql.push_str(&format!(
        "SELECT 1 FROM public.projector_offsets WHERE projector = '{}' FOR UPDATE;\n",
        name.replace('\'', "''")
    ));
    for table in tables {
        let t = ident(table);
        sql.push_str(&format!(
            "ALTER TABLE public.{t} SET SCHEMA {};\n",
            ident(schema)
        ));
        sql.push_str(&format!(
            "ALTER TABLE {}.{t} SET SCHEMA public;\n",
            ident(replaced)
        ));
    }
    for view in views {
        sql.push_str(&view.replace_sql());
        sql.push_str(";\n");
    }
    sql.push_str(&format!(
        "UPDATE public.projector_offsets o SET next_offset = s.next_offset, updated_at = now()\n  \
         FROM {}.projector_offsets s\n WHERE o.projector = s.projector AND o.topic = s.topic AND o.partition = s.partition;\n",
        ident(replaced)
    ));
    sql.push_str("COMMIT;\n");
    sql
}
