//! The usage projection: usage records, deduplicated by idempotency key, folded into daily
//! and monthly rows of `company_ai_usage` by `apply_usage_batch` (migrations/shard/0002).
//!
//! Unsharded ([`UsageProjection`]) it applies every company's usage. Sharded
//! ([`ShardedUsageProjection`], `shard = { index, count, control }` in the config) it applies
//! only the usage routed to its shard and passes over the rest, so one projector per shard
//! database puts each company's rows in its shard and each record in exactly one shard; see
//! `docs/tenancy.md` for the rule.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use trestle_events::UsageRecorded;
use uuid::Uuid;

use futures::future::BoxFuture;
use trestle_events::Event;

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};
use crate::Error;

/// `usage` → `usage_records` + `company_ai_usage` (daily and monthly, per meter).
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageProjection;

impl Projection for UsageProjection {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["usage"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        let event = decode_keyed(record)?;
        match &event {
            Event::UsageRecorded(u) if u.meter == trestle_events::Meter::Unknown => {
                Err("usage has an unknown meter".into())
            }
            Event::UsageRecorded(_) => Ok(Some(event)),
            other => Err(format!(
                "{} does not belong on the usage topic",
                other.name()
            )),
        }
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let records = events
                .into_iter()
                .filter_map(|s| match s.event {
                    Event::UsageRecorded(usage) => Some(Usage {
                        usage,
                        topic: s.topic,
                        partition: s.partition,
                        offset: s.offset,
                    }),
                    _ => None,
                })
                .collect();
            let duplicates = apply_batch(conn, records).await?;
            Ok(Applied { duplicates })
        })
    }
}

/// A usage record and where it came from in the log.
#[derive(Clone)]
pub(crate) struct Usage {
    pub(crate) usage: UsageRecorded,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// Applies a batch's new usage records, of any number of companies, inside the caller's
/// transaction in one round trip (`apply_usage_batch`, a SECURITY INVOKER function: row-level
/// security applies to each company's statements, under that company's tenant setting).
/// Returns how many records were duplicates (already counted).
pub(crate) async fn apply_batch(
    conn: &mut PgConnection,
    mut records: Vec<Usage>,
) -> Result<usize, sqlx::Error> {
    if records.is_empty() {
        return Ok(0);
    }
    let topic = records[0].topic.clone();
    records.sort_by_key(|r| r.usage.meta.company_id);
    let n = records.len();
    let (mut companies, mut firsts, mut counts) = (Vec::new(), Vec::new(), Vec::<i32>::new());
    let mut keys = Vec::with_capacity(n);
    let mut request_ids = Vec::with_capacity(n);
    let mut meters = Vec::with_capacity(n);
    let mut quantities = Vec::with_capacity(n);
    let mut costs = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut occurred = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut partitions = Vec::with_capacity(n);
    let mut offsets = Vec::with_capacity(n);
    for (i, r) in records.iter().enumerate() {
        let u = &r.usage;
        if companies.last() != Some(&u.meta.company_id) {
            companies.push(u.meta.company_id);
            firsts.push(i as i32 + 1);
            counts.push(0);
        }
        *counts.last_mut().expect("pushed above") += 1;
        keys.push(u.idempotency_key.clone());
        request_ids.push(u.request_id);
        meters.push(u.meter.as_str().to_string());
        quantities.push(u.quantity_milli);
        costs.push(u.cost_micro_usd);
        versions.push(u.price_book_version);
        occurred.push(u.meta.occurred_at);
        event_ids.push(u.meta.event_id);
        partitions.push(r.partition);
        offsets.push(r.offset);
    }
    let fresh: i64 = sqlx::query_scalar(
        "SELECT apply_usage_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&topic)
    .bind(&companies)
    .bind(&firsts)
    .bind(&counts)
    .bind(&keys)
    .bind(&request_ids)
    .bind(&meters)
    .bind(&quantities)
    .bind(&costs)
    .bind(&versions)
    .bind(&occurred)
    .bind(&event_ids)
    .bind(&partitions)
    .bind(&offsets)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n - fresh as usize)
}

/// Which shard of the usage a projector applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageShardConfig {
    /// This projector's shard, `0 .. count`.
    pub index: i32,
    /// How many shards (usage projectors) there are.
    pub count: i32,
    /// The control database, where the shard of every usage record is decided once for all
    /// shards' projectors (`decide_usage_shards`).
    #[serde(default)]
    pub control: trestle_store::PostgresOptions,
}

/// The shard of a company no provisioning routes yet: Kafka's murmur2 of its key, modulo the
/// shard count, so every projector (and any language) computes the same.
/// NEVER CHANGE: it decides where unprovisioned companies' usage rows live.
pub fn default_shard(company: Uuid, count: i32) -> i32 {
    trestle_kafka::partition_for_key(trestle_kafka::company_key(&company).as_bytes(), count)
}

/// `tenants` + `usage` → this shard's `usage_routing`, and `usage_records` + `company_ai_usage`
/// of the companies routed here.
///
/// Each projector knows routing from the `tenants` topic as far as it has read it, and two
/// projectors read at their own pace: left alone they could disagree about a record (one has
/// seen the provisioning, the other not) and count it twice or never. So the shard of each
/// record is decided once, in the control database (`decide_usage_shards`), per company and
/// usage partition as runs of offsets: the first projector to reach a record decides it with
/// what it knows (provisioned shard, else [`default_shard`]); a projector that knows a newer
/// provisioning moves the company from the next undecided offset on. A decision never changes,
/// so every projector, before or after a crash, routes a record the same way.
#[derive(Debug, Clone)]
pub struct ShardedUsageProjection {
    index: i32,
    count: i32,
    control: PgPool,
}

impl ShardedUsageProjection {
    /// A projection for shard `index` of `count`, deciding in `control` (migrated).
    pub fn new(index: i32, count: i32, control: PgPool) -> Result<Self, Error> {
        if count < 1 || !(0..count).contains(&index) {
            return Err(Error::NoSuchShard { index, count });
        }
        Ok(ShardedUsageProjection {
            index,
            count,
            control,
        })
    }

    /// Connects to (and migrates) the control database of `config`.
    pub async fn connect(config: &UsageShardConfig) -> Result<Self, Error> {
        trestle_store::migrate_control(&config.control).await?;
        let control = trestle_store::connect(&config.control).await?;
        ShardedUsageProjection::new(config.index, config.count, control)
    }
}

impl Projection for ShardedUsageProjection {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["tenants", "usage"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        if record.logical_topic == "usage" {
            return UsageProjection.accept(record);
        }
        let event = decode_keyed(record)?;
        match event {
            Event::TenantProvisioned(_) => Ok(Some(event)),
            // Any other event of the tenants topic (decode_keyed checked the topic) does not
            // route usage.
            _ => Ok(None),
        }
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let mut provisioned: HashMap<Uuid, (i32, DateTime<Utc>)> = HashMap::new();
            let mut records = Vec::new();
            for s in events {
                match s.event {
                    Event::TenantProvisioned(p) => {
                        let at = p.meta.occurred_at;
                        let e = provisioned
                            .entry(p.meta.company_id)
                            .or_insert((p.database_shard, at));
                        if at >= e.1 {
                            *e = (p.database_shard, at);
                        }
                    }
                    Event::UsageRecorded(usage) => records.push(Usage {
                        usage,
                        topic: s.topic,
                        partition: s.partition,
                        offset: s.offset,
                    }),
                    _ => {}
                }
            }
            store_routing(conn, &provisioned).await?;
            let mine = self.decide(conn, records).await?;
            let duplicates = apply_batch(conn, mine).await?;
            Ok(Applied { duplicates })
        })
    }
}

impl ShardedUsageProjection {
    /// Keeps the records the control database routes to this shard.
    async fn decide(
        &self,
        conn: &mut PgConnection,
        records: Vec<Usage>,
    ) -> Result<Vec<Usage>, sqlx::Error> {
        if records.is_empty() {
            return Ok(records);
        }
        let mut keys: BTreeMap<(Uuid, i32), i64> = BTreeMap::new();
        for r in &records {
            let last = keys
                .entry((r.usage.meta.company_id, r.partition))
                .or_insert(r.offset);
            *last = (*last).max(r.offset);
        }
        let companies: Vec<Uuid> = keys.keys().map(|(c, _)| *c).collect();
        let known: HashMap<Uuid, (i32, DateTime<Utc>)> =
            sqlx::query_as::<_, (Uuid, i32, DateTime<Utc>)>(
                "SELECT company_id, database_shard, provisioned_at FROM usage_routing
              WHERE company_id = ANY($1)",
            )
            .bind(&companies)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(c, shard, at)| (c, (shard, at)))
            .collect();
        let (mut cs, mut ps, mut lasts, mut wanted, mut at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((company, partition), last) in &keys {
            let route = match known.get(company) {
                Some(&(shard, when)) if (0..self.count).contains(&shard) => Some((shard, when)),
                Some(&(shard, _)) => {
                    tracing::warn!(message = "A company is provisioned to a shard this projector's shard count does not have; routing it by the default rule.", %company, shard, shard_count = self.count);
                    None
                }
                None => None,
            };
            cs.push(*company);
            ps.push(*partition);
            lasts.push(*last);
            wanted.push(route.map_or_else(|| default_shard(*company, self.count), |r| r.0));
            at.push(route.map(|r| r.1));
        }
        // Its own statement on the control database, committed before this batch: a decision
        // is final whether or not this batch commits, and a retry reads the same one.
        let epochs: Vec<(Uuid, i32, i64, i32)> =
            sqlx::query_as("SELECT * FROM decide_usage_shards($1, $2, $3, $4, $5, $6)")
                .bind(self.count)
                .bind(&cs)
                .bind(&ps)
                .bind(&lasts)
                .bind(&wanted)
                .bind(&at)
                .fetch_all(&self.control)
                .await?;
        let mut runs: HashMap<(Uuid, i32), BTreeMap<i64, i32>> = HashMap::new();
        for (company, partition, from, shard) in epochs {
            runs.entry((company, partition))
                .or_default()
                .insert(from, shard);
        }
        let shard_of = |r: &Usage| {
            runs.get(&(r.usage.meta.company_id, r.partition))
                .and_then(|run| run.range(..=r.offset).next_back())
                .map(|(_, shard)| *shard)
        };
        Ok(records
            .into_iter()
            .filter(|r| shard_of(r) == Some(self.index))
            .collect())
    }
}

/// Folds a batch's provisionings into `usage_routing` (newest by occurred_at wins).
async fn store_routing(
    conn: &mut PgConnection,
    provisioned: &HashMap<Uuid, (i32, DateTime<Utc>)>,
) -> Result<(), sqlx::Error> {
    if provisioned.is_empty() {
        return Ok(());
    }
    let companies: Vec<Uuid> = provisioned.keys().copied().collect();
    let shards: Vec<i32> = companies.iter().map(|c| provisioned[c].0).collect();
    let at: Vec<DateTime<Utc>> = companies.iter().map(|c| provisioned[c].1).collect();
    sqlx::query(
        "INSERT INTO usage_routing AS r (company_id, database_shard, provisioned_at)
         SELECT * FROM unnest($1::uuid[], $2::int4[], $3::timestamptz[])
         ON CONFLICT (company_id) DO UPDATE SET
             database_shard = EXCLUDED.database_shard, provisioned_at = EXCLUDED.provisioned_at
           WHERE EXCLUDED.provisioned_at >= r.provisioned_at",
    )
    .bind(&companies)
    .bind(&shards)
    .bind(&at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
