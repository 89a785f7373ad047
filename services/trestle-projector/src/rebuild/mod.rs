//! Rebuilding a projection from offset zero into a fresh schema, comparing it with the live
//! tables (a per-company hash of rows) and swapping it in while the live tables keep serving.
//!
//! The steps (docs/rebuild.md):
//! 1. create `rebuild_<projector>_<yyyymmddhhmmss>` and apply the database's migrations into it
//!    (the migration SQL is schema-unqualified; it runs with `search_path` = the new schema);
//! 2. project the projection's topics from offset 0 into it with the live code
//!    (`worker::apply_batch`, no dead-letter producer; `reader.rs`) on an application-role pool whose
//!    `search_path` is the new schema, reading by manual assignment (no consumer group);
//! 3. catch up to the live `projector_offsets`, then lock those rows (`FOR UPDATE`: the live
//!    loop locks them at the start of every batch, so this pauses its writes while reads go on),
//!    finish to exactly the live offsets and compare (`compare.rs`);
//! 4. with `--swap`, in the same transaction, move the projection's own tables: live → a new
//!    `replaced_<projector>_<ts>` schema, rebuilt → `public`; views over them are re-pointed
//!    (`swap.rs`).
//!
//! **Tables, not the whole schema, are swapped**: a database holds several projections (the
//! shard database holds usage, billing and companies; the control database routing, pool, shard health),
//! and a schema swap would replace the others' tables with empty ones.

mod compare;
mod error;
mod reader;
mod swap;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use error::pg;
pub use error::Error;
use reader::{Offsets, Reader};

use crate::projection::Projection;
use crate::worker::projector_name;
use crate::{offsets, ProjectionKind, ProjectorConfig};

/// The tables a projection owns (it writes them and nothing else does): what a rebuild hashes
/// and swaps. A projection not listed here cannot be rebuilt yet; add its tables.
pub fn owned_tables(kind: ProjectionKind) -> Option<&'static [&'static str]> {
    #[allow(unreachable_patterns)]
    match kind {
        ProjectionKind::Usage => Some(&["company_ai_usage", "usage_records"]),
        ProjectionKind::Companies => Some(&["companies", "company_tenancy"]),
        _ => None,
    }
}

/// What a rebuild does once the rebuilt tables caught up with the live ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildMode {
    /// Compare, report, drop the rebuilt schema (unless kept).
    CompareOnly,
    /// Compare and, when equal (or with `force` whatever the comparison), swap.
    Swap { force: bool },
}

/// How to run a rebuild.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    pub mode: RebuildMode,
    /// Keep the rebuilt schema when it is not swapped in (for inspection).
    pub keep: bool,
    /// Print progress on stderr.
    pub progress: bool,
    /// How long the swap may wait for readers of the live tables before giving up (the
    /// renames need an exclusive lock; while waiting, new readers queue behind them).
    pub swap_lock_timeout_ms: u64,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        RebuildOptions {
            mode: RebuildMode::CompareOnly,
            keep: false,
            progress: true,
            swap_lock_timeout_ms: 5_000,
        }
    }
}

/// One group of rows (a company's rows of a table, or a platform table's rows) that differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub table: String,
    /// `None` for a table without `company_id`.
    pub company_id: Option<Uuid>,
    /// (rows, digest) in the live table.
    pub live: (i64, String),
    /// (rows, digest) in the rebuilt table.
    pub rebuilt: (i64, String),
}

/// What a swap did and how to undo it.
#[derive(Debug, Clone)]
pub struct Swapped {
    /// Where the replaced live tables (and their offsets at the swap) now are.
    pub replaced_schema: String,
    /// SQL that puts the replaced tables back (run with the projector stopped).
    pub rollback_sql: String,
    /// SQL that drops what the rebuild left once the swap is trusted.
    pub drop_sql: String,
}

/// The outcome of a rebuild.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    /// The schema rebuilt into (dropped again unless kept or swapped).
    pub schema: String,
    /// Records projected into it.
    pub records: u64,
    /// Company groups compared (per table).
    pub groups_compared: usize,
    /// The offsets, per (topic, partition), both sides describe.
    pub offsets: BTreeMap<(String, i32), i64>,
    pub differences: Vec<Difference>,
    pub swapped: Option<Swapped>,
}

impl RebuildReport {
    /// Whether the rebuilt tables equal the live ones.
    pub fn equal(&self) -> bool {
        self.differences.is_empty()
    }

    /// The companies whose rows differ.
    pub fn differing_companies(&self) -> BTreeSet<Uuid> {
        self.differences
            .iter()
            .filter_map(|d| d.company_id)
            .collect()
    }
}

/// What a rebuild works on: the projection, its tables, and the schemas it uses.
struct Plan {
    kind: ProjectionKind,
    projection: Arc<dyn Projection>,
    /// The projector name its offsets are stored under.
    name: String,
    tables: &'static [&'static str],
    /// `rebuild_<projector>_<ts>`: rebuilt into.
    schema: String,
    /// `replaced_<projector>_<ts>`: where a swap moves the live tables.
    replaced: String,
}

impl Plan {
    fn new(config: &ProjectorConfig) -> Result<Plan, Error> {
        let kind = config.projection;
        // Companies: the configured shard and tier table (what the live projector runs).
        let projection = match kind {
            ProjectionKind::Companies => config
                .configured_projection()
                .map_err(|e| Error::Project(Box::new(e)))?,
            _ => kind.projection(),
        };
        let tables = owned_tables(kind).ok_or(Error::NotRebuildable {
            projection: projection.name(),
        })?;
        let name = projector_name(config, &*projection);
        let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        Ok(Plan {
            kind,
            projection,
            name,
            tables,
            schema: format!("rebuild_{slug}_{stamp}"),
            replaced: format!("replaced_{slug}_{stamp}"),
        })
    }
}

/// Rebuilds `config`'s projection (see the module documentation).
pub async fn rebuild(
    config: &ProjectorConfig,
    options: &RebuildOptions,
) -> Result<RebuildReport, Error> {
    let plan = Plan::new(config)?;
    let owner = trestle_store::connect_owner(&config.postgres, 2, None).await?;
    sqlx::query(&format!("CREATE SCHEMA {}", ident(&plan.schema)))
        .execute(&owner)
        .await
        .map_err(pg(format!("creating schema {}", plan.schema)))?;
    let result = async {
        prepare_schema(config, &plan, &owner).await?;
        run(config, options, &plan, &owner).await
    }
    .await;
    let keep = matches!(&result, Ok(r) if r.swapped.is_some()) || options.keep;
    if !keep {
        if let Err(error) = sqlx::query(&format!("DROP SCHEMA {} CASCADE", ident(&plan.schema)))
            .execute(&owner)
            .await
        {
            tracing::warn!(message = "Could not drop the rebuild schema.", schema = %plan.schema, %error);
        }
    }
    owner.close().await;
    result
}

/// Step 1, in the new schema: the database's migrations, use by the application role, the
/// owned tables without forced row-level security (the owner reads every company's rebuilt
/// rows to compare; FORCE comes back before a swap).
async fn prepare_schema(
    config: &ProjectorConfig,
    plan: &Plan,
    owner: &PgPool,
) -> Result<(), Error> {
    let schema = &plan.schema;
    let app_role = trestle_store::role_of(&config.postgres.url)?;
    sqlx::query(&format!(
        "GRANT USAGE ON SCHEMA {} TO {}",
        ident(schema),
        ident(&app_role)
    ))
    .execute(owner)
    .await
    .map_err(pg(format!("granting {app_role} the use of {schema}")))?;
    plan.kind
        .database()
        .migrate_in_schema(&config.postgres, schema)
        .await?;
    let (live, rebuilt) = migration_versions(owner, schema).await?;
    if live != rebuilt {
        return Err(Error::MigrationsDiffer { live, rebuilt });
    }
    for table in plan.tables {
        sqlx::query(&format!(
            "ALTER TABLE {}.{} NO FORCE ROW LEVEL SECURITY",
            ident(schema),
            ident(table)
        ))
        .execute(owner)
        .await
        .map_err(pg(format!("preparing {schema}.{table}")))?;
    }
    Ok(())
}

/// Steps 2 to 4: project, pause the live projector and finish, compare, swap.
async fn run(
    config: &ProjectorConfig,
    options: &RebuildOptions,
    plan: &Plan,
    owner: &PgPool,
) -> Result<RebuildReport, Error> {
    let projection = &*plan.projection;
    let rebuild_pool = trestle_store::connect_in_schema(&config.postgres, &plan.schema).await?;
    let mut reader = Reader::new(config, projection, &plan.name, options.progress)?;
    follow_live(config, plan, &mut reader, &rebuild_pool).await?;
    let mut lock = owner.begin().await.map_err(pg("starting the pause"))?;
    let targets = pause_live(&mut lock, &plan.name, reader.partitions()).await?;
    if options.progress {
        eprintln!(
            "rebuild {}: live projector paused; finishing to its offsets",
            plan.name
        );
    }
    reader
        .catch_up(config, projection, &rebuild_pool, &targets)
        .await?;
    check_reached(&rebuild_pool, &plan.name, &targets).await?;
    rebuild_pool.close().await;
    reader.close().await;

    let comparison = compare::compare(&mut lock, &plan.schema, plan.tables, &reader.keys).await?;
    let mut report = RebuildReport {
        schema: plan.schema.clone(),
        records: reader.records,
        groups_compared: comparison.groups_compared,
        offsets: targets,
        differences: comparison.differences,
        swapped: None,
    };
    let swap = match options.mode {
        RebuildMode::CompareOnly => false,
        RebuildMode::Swap { force } => report.equal() || force,
    };
    if swap {
        report.swapped = Some(swap::swap(lock, plan, options.swap_lock_timeout_ms).await?);
    } else {
        lock.rollback().await.map_err(pg("ending the pause"))?;
    }
    Ok(report)
}

/// Step 2: from offset 0 up to where the live projector is, repeated while it moves on (until
/// a round takes under 2 s).
async fn follow_live(
    config: &ProjectorConfig,
    plan: &Plan,
    reader: &mut Reader,
    rebuild_pool: &PgPool,
) -> Result<(), Error> {
    let live_pool = trestle_store::connect(&config.postgres).await?;
    loop {
        let started = Instant::now();
        let targets = offsets::read(&live_pool, &plan.name)
            .await
            .map_err(pg("reading projector_offsets"))?;
        reader
            .catch_up(config, &*plan.projection, rebuild_pool, &targets)
            .await?;
        if started.elapsed() < Duration::from_secs(2) {
            break;
        }
    }
    live_pool.close().await;
    Ok(())
}

/// Step 3: pauses the live projector's writes by locking its offset rows as its batches do
/// (rows of every partition, created at 0 like the loop creates them, so none is left
/// unlocked); returns the offsets it is paused at.
async fn pause_live(
    lock: &mut Transaction<'_, Postgres>,
    name: &str,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> Result<Offsets, Error> {
    let mut targets = BTreeMap::new();
    for (topic, partitions) in partitions {
        let locked = offsets::lock(lock, name, topic, partitions)
            .await
            .map_err(pg(format!("locking the live offsets of {topic}")))?;
        targets.extend(locked.into_iter().map(|(p, o)| ((topic.clone(), p), o)));
    }
    Ok(targets)
}

/// Checks that the rebuild reached exactly the live offsets.
async fn check_reached(rebuild_pool: &PgPool, name: &str, targets: &Offsets) -> Result<(), Error> {
    let rebuilt = offsets::read(rebuild_pool, name)
        .await
        .map_err(pg("reading the rebuilt projector_offsets"))?;
    for ((topic, partition), target) in targets {
        let got = rebuilt
            .get(&(topic.clone(), *partition))
            .copied()
            .unwrap_or(0);
        if got != *target {
            return Err(Error::StoppedShort {
                topic: topic.clone(),
                partition: *partition,
                got,
                target: *target,
            });
        }
    }
    Ok(())
}

/// The latest migration applied in `public` and in `schema`.
async fn migration_versions(owner: &PgPool, schema: &str) -> Result<(i64, i64), Error> {
    let version = |s: &str| {
        format!(
            "SELECT coalesce(max(version), 0) FROM {}._sqlx_migrations",
            ident(s)
        )
    };
    let read = |s: &str| {
        let sql = version(s);
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(owner)
                .await
                .map_err(pg("reading the migration versions"))
        }
    };
    let (live, rebuilt) = (read("public").await?, read(schema).await?);
    Ok((live, rebuilt))
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
