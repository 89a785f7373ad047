//! Rebuilding a projection from offset zero into a fresh schema, comparing it with the live
//! tables (a per-company hash of rows) and swapping it in while the live tables keep serving.
//!
//! The steps (docs/rebuild.md):
//! 1. create `rebuild_<projector>_<yyyymmddhhmmss>` and apply the database's migrations into it
//!    (the migration SQL is schema-unqualified; it runs with `search_path` = the new schema);
//! 2. project the projection's topics from offset 0 into it with the live code
//!    (`worker::apply_batch`, no dead-letter producer) on an application-role pool whose
//!    `search_path` is the new schema, reading by manual assignment (no consumer group);
//! 3. catch up to the live `projector_offsets`, then lock those rows (`FOR UPDATE`: the live
//!    loop locks them at the start of every batch, so this pauses its writes while reads go on),
//!    finish to exactly the live offsets and compare;
//! 4. with `--swap`, in the same transaction, move the projection's own tables: live → a new
//!    `replaced_<projector>_<ts>` schema, rebuilt → `public`; views over them are re-pointed.
//!
//! **Tables, not the whole schema, are swapped**: a database holds several projections (the
//! shard database holds usage and billing; the control database routing, pool, shard health),
//! and a schema swap would replace the others' tables with empty ones.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{Projection, Record};
use crate::worker::{apply_batch, projector_name};
use crate::{ProjectionKind, ProjectorConfig};

/// The tables a projection owns (it writes them and nothing else does): what a rebuild hashes
/// and swaps. A projection not listed here cannot be rebuilt yet; add its tables.
pub fn owned_tables(kind: ProjectionKind) -> Option<&'static [&'static str]> {
    #[allow(unreachable_patterns)]
    match kind {
        ProjectionKind::Usage => Some(&["company_ai_usage", "usage_records"]),
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

/// Rebuilds `config`'s projection (see the module documentation).
pub async fn rebuild(
    config: &ProjectorConfig,
    options: &RebuildOptions,
) -> anyhow::Result<RebuildReport> {
    let kind = config.projection;
    let projection = kind.projection();
    let tables = owned_tables(kind).with_context(|| {
        format!(
            "projection {} declares no tables for rebuild (trestle-projector src/rebuild.rs owned_tables)",
            projection.name()
        )
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
    let schema = format!("rebuild_{slug}_{stamp}");
    let replaced = format!("replaced_{slug}_{stamp}");
    let pg = &config.postgres;
    let owner = trestle_store::connect_owner(pg, 2, None)
        .await
        .context("connecting as the owning role")?;
    let app_role = trestle_store::role_of(&pg.url)?;

    // 1. A fresh schema with the database's migrations.
    sqlx::query(&format!("CREATE SCHEMA {}", ident(&schema)))
        .execute(&owner)
        .await
        .with_context(|| format!("creating schema {schema}"))?;
    let result = async {
        sqlx::query(&format!(
            "GRANT USAGE ON SCHEMA {} TO {}",
            ident(&schema),
            ident(&app_role)
        ))
        .execute(&owner)
        .await?;
        kind.database()
            .migrate_in_schema(pg, &schema)
            .await
            .with_context(|| format!("migrating schema {schema}"))?;
        let (live_version, rebuilt_version) = migration_versions(&owner, &schema).await?;
        ensure!(
            live_version == rebuilt_version,
            "the live schema is at migration {live_version} and this binary's migrations end at \
             {rebuilt_version}: migrate the live database (restart the projector) first"
        );
        // The owner reads every company's rebuilt rows to compare; the live ones it reads per
        // company under the tenant setting. FORCE comes back before a swap.
        for table in tables {
            sqlx::query(&format!(
                "ALTER TABLE {}.{} NO FORCE ROW LEVEL SECURITY",
                ident(&schema),
                ident(table)
            ))
            .execute(&owner)
            .await?;
        }
        run(
            config,
            options,
            &*projection,
            &name,
            tables,
            &schema,
            &replaced,
            &owner,
        )
        .await
    }
    .await;
    let keep = matches!(&result, Ok(r) if r.swapped.is_some()) || options.keep;
    if !keep {
        if let Err(error) = sqlx::query(&format!("DROP SCHEMA {} CASCADE", ident(&schema)))
            .execute(&owner)
            .await
        {
            tracing::warn!(message = "Could not drop the rebuild schema.", schema = %schema, %error);
        }
    }
    owner.close().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    config: &ProjectorConfig,
    options: &RebuildOptions,
    projection: &dyn Projection,
    name: &str,
    tables: &[&str],
    schema: &str,
    replaced: &str,
    owner: &PgPool,
) -> anyhow::Result<RebuildReport> {
    let rebuild_pool = trestle_store::connect_in_schema(&config.postgres, schema)
        .await
        .context("connecting to the rebuild schema")?;
    let mut reader = Reader::new(config, projection, name, options.progress)?;

    // 2. From offset 0 up to where the live projector is, repeated while it moves on.
    let live_pool = trestle_store::connect(&config.postgres).await?;
    loop {
        let started = Instant::now();
        let targets = read_offsets(&live_pool, name).await?;
        reader
            .catch_up(config, projection, &rebuild_pool, &targets)
            .await?;
        if started.elapsed() < Duration::from_secs(2) {
            break;
        }
    }
    live_pool.close().await;

    // 3. Pause the live projector's writes: lock its offset rows, as its batches do (rows of
    //    every partition, created at 0 like the loop creates them, so none is left unlocked).
    let mut lock = owner.begin().await?;
    let mut targets = BTreeMap::new();
    for (topic, partitions) in reader.partitions() {
        sqlx::query(
            "INSERT INTO public.projector_offsets (projector, topic, partition, next_offset)
             SELECT $1, $2, p, 0 FROM unnest($3::int4[]) AS p ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(&topic)
        .bind(&partitions)
        .execute(&mut *lock)
        .await?;
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT partition, next_offset FROM public.projector_offsets
             WHERE projector = $1 AND topic = $2 ORDER BY partition FOR UPDATE",
        )
        .bind(name)
        .bind(&topic)
        .fetch_all(&mut *lock)
        .await?;
        targets.extend(rows.into_iter().map(|(p, o)| ((topic.clone(), p), o)));
    }
    if options.progress {
        eprintln!("rebuild {name}: live projector paused; finishing to its offsets");
    }
    reader
        .catch_up(config, projection, &rebuild_pool, &targets)
        .await?;
    let rebuilt_offsets = read_offsets(&rebuild_pool, name).await?;
    for (key, target) in &targets {
        let got = rebuilt_offsets.get(key).copied().unwrap_or(0);
        ensure!(
            got == *target,
            "rebuild of {}[{}] stopped at offset {got}, the live projector is at {target}",
            key.0,
            key.1
        );
    }
    rebuild_pool.close().await;
    reader.close().await;

    // Compare, per company, every owned table.
    let mut companies: BTreeSet<Uuid> = reader.keys.clone();
    for table in tables {
        if has_column(&mut lock, schema, table, "company_id").await? {
            let found: Vec<(Uuid,)> = sqlx::query_as(&format!(
                "SELECT DISTINCT company_id FROM {}.{}",
                ident(schema),
                ident(table)
            ))
            .fetch_all(&mut *lock)
            .await?;
            companies.extend(found.into_iter().map(|(c,)| c));
        }
    }
    let companies: Vec<Uuid> = companies.into_iter().collect();
    sqlx::query(HASH_FUNCTION).execute(&mut *lock).await?;
    let mut differences = Vec::new();
    let mut groups_compared = 0;
    for table in tables {
        let columns = compared_columns(&mut lock, schema, table).await?;
        let scoped = has_column(&mut lock, schema, table, "company_id").await?;
        let live = hashes(
            &mut lock,
            "public",
            table,
            &columns,
            scoped.then_some(&companies),
        )
        .await?;
        let rebuilt = hashes(
            &mut lock,
            schema,
            table,
            &columns,
            scoped.then_some(&companies),
        )
        .await?;
        groups_compared += live.len();
        for (company, l) in &live {
            let r = rebuilt.get(company).cloned().unwrap_or((0, String::new()));
            if *l != r {
                differences.push(Difference {
                    table: (*table).to_owned(),
                    company_id: *company,
                    live: l.clone(),
                    rebuilt: r,
                });
            }
        }
    }
    let mut report = RebuildReport {
        schema: schema.to_owned(),
        records: reader.records,
        groups_compared,
        offsets: targets,
        differences,
        swapped: None,
    };
    let swap = match options.mode {
        RebuildMode::CompareOnly => false,
        RebuildMode::Swap { force } => report.equal() || force,
    };
    if !swap {
        lock.rollback().await?;
        return Ok(report);
    }

    // 4. Swap the tables in the transaction that paused the live projector.
    sqlx::query(&format!(
        "SET LOCAL lock_timeout = {}",
        options.swap_lock_timeout_ms
    ))
    .execute(&mut *lock)
    .await?;
    let views = dependent_views(&mut lock, tables).await?;
    sqlx::query(&format!("CREATE SCHEMA {}", ident(replaced)))
        .execute(&mut *lock)
        .await?;
    sqlx::query(&format!(
        "CREATE TABLE {r}.projector_offsets AS
         SELECT * FROM public.projector_offsets WHERE projector = $1",
        r = ident(replaced)
    ))
    .bind(name)
    .execute(&mut *lock)
    .await?;
    for table in tables {
        let t = ident(table);
        for sql in [
            format!("ALTER TABLE {}.{t} FORCE ROW LEVEL SECURITY", ident(schema)),
            format!("ALTER TABLE public.{t} SET SCHEMA {}", ident(replaced)),
            format!("ALTER TABLE {}.{t} SET SCHEMA public", ident(schema)),
        ] {
            sqlx::query(&sql)
                .execute(&mut *lock)
                .await
                .with_context(|| format!("swapping: {sql}"))?;
        }
    }
    // Views bind tables by identity: re-create them over the swapped-in tables.
    for view in &views {
        sqlx::query(&view.replace_sql())
            .execute(&mut *lock)
            .await
            .with_context(|| format!("re-pointing view {}", view.name))?;
    }
    lock.commit().await.context("committing the swap")?;
    report.swapped = Some(Swapped {
        replaced_schema: replaced.to_owned(),
        rollback_sql: rollback_sql(name, tables, schema, replaced, &views),
        drop_sql: format!(
            "DROP SCHEMA {} CASCADE;\nDROP SCHEMA {} CASCADE;",
            ident(replaced),
            ident(schema)
        ),
    });
    Ok(report)
}

/// Reads the projection's topics from the beginning by manual assignment and projects them.
struct Reader {
    consumer: Option<StreamConsumer>,
    topics: Vec<(String, &'static str)>,
    partitions: BTreeMap<String, Vec<i32>>,
    /// Records at or past a partition's target, held (and the partition paused) until a later
    /// target covers them.
    held: BTreeMap<(String, i32), Vec<Record>>,
    paused: BTreeSet<(String, i32)>,
    /// Next offset applied into the rebuild schema.
    next: BTreeMap<(String, i32), i64>,
    /// Every record key that is a company id.
    keys: BTreeSet<Uuid>,
    records: u64,
    name: String,
    progress: bool,
    started: Instant,
    reported: Instant,
}

impl Reader {
    fn new(
        config: &ProjectorConfig,
        projection: &dyn Projection,
        name: &str,
        progress: bool,
    ) -> anyhow::Result<Self> {
        let topics: Vec<(String, &'static str)> = projection
            .topics()
            .iter()
            .map(|l| (config.kafka.topic(l), *l))
            .collect();
        // A group id because librdkafka wants one; it is never joined (manual assignment) and
        // nothing is committed to it.
        let group = format!("{}-rebuild-{}", config.group_id, Uuid::now_v7().simple());
        let consumer: StreamConsumer = config
            .kafka
            .consumer_config(&group)
            .create()
            .context("creating the rebuild consumer")?;
        let mut partitions = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for (topic, _) in &topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .with_context(|| format!("reading the metadata of {topic}"))?;
            let count = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len() as i32);
            ensure!(
                count > 0,
                "topic {topic} has no partitions (does it exist?)"
            );
            for p in 0..count {
                tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            }
            partitions.insert(topic.clone(), (0..count).collect());
        }
        consumer
            .assign(&tpl)
            .context("assigning the rebuild consumer")?;
        Ok(Reader {
            consumer: Some(consumer),
            topics,
            partitions,
            held: BTreeMap::new(),
            paused: BTreeSet::new(),
            next: BTreeMap::new(),
            keys: BTreeSet::new(),
            records: 0,
            name: name.to_owned(),
            progress,
            started: Instant::now(),
            reported: Instant::now(),
        })
    }

    fn partitions(&self) -> BTreeMap<String, Vec<i32>> {
        self.partitions.clone()
    }

    fn consumer(&self) -> &StreamConsumer {
        self.consumer.as_ref().expect("consumer open until close")
    }

    /// Projects every record below `targets` (per partition) into the rebuild schema.
    async fn catch_up(
        &mut self,
        config: &ProjectorConfig,
        projection: &dyn Projection,
        pool: &PgPool,
        targets: &BTreeMap<(String, i32), i64>,
    ) -> anyhow::Result<()> {
        let target = |key: &(String, i32)| targets.get(key).copied().unwrap_or(0);
        loop {
            let behind = targets
                .iter()
                .any(|(k, t)| self.next.get(k).copied().unwrap_or(0) < *t);
            if !behind {
                self.report(targets, true);
                return Ok(());
            }
            // Held records now below their target go first; their partitions resume.
            let mut batch = Vec::new();
            let keys: Vec<(String, i32)> = self.held.keys().cloned().collect();
            for key in keys {
                let held = self.held.get_mut(&key).expect("held key");
                let split = held.partition_point(|r| r.offset < target(&key));
                batch.extend(held.drain(..split));
                if held.is_empty() {
                    self.held.remove(&key);
                    if self.paused.remove(&key) {
                        let mut tpl = TopicPartitionList::new();
                        tpl.add_partition(&key.0, key.1);
                        self.consumer().resume(&tpl)?;
                    }
                }
            }
            let deadline = tokio::time::Instant::now()
                + if batch.is_empty() {
                    Duration::from_secs(1)
                } else {
                    Duration::from_millis(config.batch_max_wait_ms)
                };
            while batch.len() < config.batch_max_records {
                let record = match tokio::time::timeout_at(deadline, self.consumer().recv()).await {
                    Err(_) => break,
                    Ok(m) => {
                        let m = m.context("reading the projection's topics")?;
                        let logical = self
                            .topics
                            .iter()
                            .find(|(p, _)| p == m.topic())
                            .map_or("", |(_, l)| *l);
                        Record {
                            record: trestle_kafka::OwnedRecord::from_message(&m),
                            logical_topic: logical,
                        }
                    }
                };
                let key = (record.topic.clone(), record.partition);
                if record.offset < target(&key) {
                    batch.push(record);
                } else {
                    if self.paused.insert(key.clone()) {
                        let mut tpl = TopicPartitionList::new();
                        tpl.add_partition(&key.0, key.1);
                        self.consumer().pause(&tpl)?;
                    }
                    self.held.entry(key).or_default().push(record);
                }
            }
            if batch.is_empty() {
                self.report(targets, false);
                continue;
            }
            for r in &batch {
                if let Some(company) = r
                    .key
                    .as_deref()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(|k| Uuid::parse_str(k).ok())
                {
                    self.keys.insert(company);
                }
            }
            let count = batch.len() as u64;
            let next = apply_batch(config, projection, pool, None, batch)
                .await
                .context("projecting into the rebuild schema")?;
            self.records += count;
            self.next.extend(next);
            self.report(targets, false);
        }
    }

    fn report(&mut self, targets: &BTreeMap<(String, i32), i64>, last: bool) {
        if !self.progress || (!last && self.reported.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.reported = Instant::now();
        let done: i64 = targets
            .keys()
            .map(|k| self.next.get(k).copied().unwrap_or(0).min(targets[k]))
            .sum();
        let total: i64 = targets.values().sum();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "rebuild {}: {done}/{total} offsets done, {} records projected, {:.0} records/s",
            self.name,
            self.records,
            self.records as f64 / secs
        );
    }

    async fn close(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            let _ = consumer.unassign();
            let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        }
    }
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

type Hashes = BTreeMap<Option<Uuid>, (i64, String)>;

async fn hashes(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
    columns: &[String],
    companies: Option<&Vec<Uuid>>,
) -> anyhow::Result<Hashes> {
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
    .with_context(|| format!("hashing {schema}.{table}"))?;
    Ok(rows.into_iter().map(|(c, n, d)| (c, (n, d))).collect())
}

/// The columns compared: all but those the database fills at write time (surrogate ids and
/// timestamps by default or identity, `updated_at`), which no two projections agree on.
async fn compared_columns(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> anyhow::Result<Vec<String>> {
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
    .await?;
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

async fn has_column(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
    column: &str,
) -> anyhow::Result<bool> {
    let found: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
    )
    .bind(schema)
    .bind(table)
    .bind(column)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

async fn read_offsets(pool: &PgPool, name: &str) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM projector_offsets WHERE projector = $1",
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .context("reading projector_offsets")?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

async fn migration_versions(owner: &PgPool, schema: &str) -> anyhow::Result<(i64, i64)> {
    let version = |s: &str| {
        format!(
            "SELECT coalesce(max(version), 0) FROM {}._sqlx_migrations",
            ident(s)
        )
    };
    let (live,): (i64,) = sqlx::query_as(&version("public")).fetch_one(owner).await?;
    let (rebuilt,): (i64,) = sqlx::query_as(&version(schema)).fetch_one(owner).await?;
    Ok((live, rebuilt))
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
async fn dependent_views(conn: &mut PgConnection, tables: &[&str]) -> anyhow::Result<Vec<View>> {
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
    .await?;
    let mut views = Vec::new();
    for (name, definition, options, relkind) in rows {
        if relkind != "v" {
            bail!("{name} (relkind {relkind}) depends on the projection's tables; only plain views can be re-pointed");
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
    .await?;
    if let Some((name,)) = foreign.first() {
        bail!("foreign key {name} of another table references the projection's tables; cannot swap them");
    }
    Ok(views)
}

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

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
