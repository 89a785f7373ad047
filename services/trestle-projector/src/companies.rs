//! The companies projection: `tenants` → the company record in its shard (`companies`, with
//! `ai_config` initialised from the tier table's defaults; migrations/shard/0005), the seed's
//! onboarding step 1.
//!
//! A shard's projector (`[shard] index`) keeps the companies whose latest provisioning names
//! its shard; a later provisioning naming another shard (a tenant move) deletes the row here
//! while the other shard's projector writes it there. Every shard's projector reads the whole
//! `tenants` topic and remembers each company's latest registration and provisioning
//! (`company_tenancy`), so it decides from the events alone. Like the routing projection, each
//! event applies only if it is not older (`occurred_at`) than the one of its kind already
//! applied, so the row does not depend on the order registration and provisioning arrive in,
//! and a re-published older provisioning never moves a company back.

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use sqlx::PgConnection;
use trestle_events::Event;
use trestle_tiers::{TierSettings, TierTable};
use uuid::Uuid;

use crate::projection::{decode_keyed, Applied, Projection, Record, Sourced};
use crate::routing::{isolation, latest_per_company, region, tier};

/// `tenants` → `company_tenancy` + `companies` (shard database).
#[derive(Debug, Clone)]
pub struct CompaniesProjection {
    /// The shard whose companies it keeps; `None`: every provisioned company (one database).
    shard: Option<i32>,
    /// `ai_config` per tier symbol (and `unknown`, which gets starter's, the least privileged).
    tier_defaults: serde_json::Value,
}

impl CompaniesProjection {
    /// Keeps the companies provisioned to `shard` (`None`: all), their `ai_config` initialised
    /// from `tiers`.
    pub fn new(shard: Option<i32>, tiers: &TierTable) -> Self {
        let mut defaults = serde_json::Map::new();
        for t in trestle_tiers::Tier::ALL {
            defaults.insert(t.as_str().to_owned(), ai_config(tiers.get(t)));
        }
        defaults.insert(
            "unknown".to_owned(),
            ai_config(tiers.get(trestle_tiers::Tier::Starter)),
        );
        CompaniesProjection {
            shard,
            tier_defaults: serde_json::Value::Object(defaults),
        }
    }
}

impl Default for CompaniesProjection {
    fn default() -> Self {
        CompaniesProjection::new(None, &TierTable::default())
    }
}

/// A company's AI configuration from its tier's settings (a `null` limit is unlimited).
/// The keys are the `companies.ai_config` format (migrations/shard/0005): readers depend on
/// them.
pub fn ai_config(settings: &TierSettings) -> serde_json::Value {
    serde_json::json!({
        "requests_per_minute": settings.requests_per_minute,
        "max_in_flight": settings.max_in_flight,
        "scheduler_weight": settings.scheduler_weight,
        "monthly_price_micro_usd": settings.monthly_price_micro_usd,
        "included_queries_per_month": settings.included_queries_per_month,
        "included_cost_micro_usd_per_month": settings.included_cost_micro_usd_per_month,
    })
}

impl Projection for CompaniesProjection {
    fn name(&self) -> &'static str {
        "companies"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["tenants"]
    }

    fn accept(&self, record: &Record) -> Result<Option<Event>, String> {
        let event = decode_keyed(record)?;
        match event {
            Event::CompanyRegistered(_) | Event::TenantProvisioned(_) => Ok(Some(event)),
            // Another event of the tenants topic (decode_keyed checked the topic): it does not
            // change the company record.
            _ => Ok(None),
        }
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: Vec<Sourced>,
    ) -> BoxFuture<'a, Result<Applied, sqlx::Error>> {
        Box::pin(async move {
            let (registered, provisioned) = latest_per_company(events);
            let folded = registered.len() + provisioned.len();
            if folded == 0 {
                return Ok(Applied::default());
            }
            let ids: BTreeSet<Uuid> = registered
                .keys()
                .chain(provisioned.keys())
                .copied()
                .collect();
            let mut b = Batch::default();
            for id in ids {
                let r = registered.get(&id);
                let p = provisioned.get(&id);
                b.ids.push(id);
                b.names.push(r.map(|r| r.name.clone()));
                b.tiers.push(r.and_then(|r| tier(r.tier)));
                b.countries.push(r.map(|r| r.country.clone()));
                b.registered_regions.push(r.and_then(|r| region(r.region)));
                b.requested.push(r.and_then(|r| isolation(r.isolation)));
                b.registered.push(r.map(|r| r.meta.occurred_at));
                b.shards.push(p.map(|p| p.database_shard));
                b.projects.push(p.map(|p| p.cloud_project_id.clone()));
                b.provisioned_regions.push(p.and_then(|p| region(p.region)));
                b.levels.push(p.and_then(|p| isolation(p.isolation_level)));
                b.notebooks.push(p.map(|p| p.kb_notebook_id.clone()));
                b.provisioned.push(p.map(|p| p.meta.occurred_at));
            }
            let changed: i64 = sqlx::query_scalar(
                "SELECT apply_companies_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                                              $13, $14, $15)",
            )
            .bind(self.shard)
            .bind(&self.tier_defaults)
            .bind(&b.ids)
            .bind(&b.names)
            .bind(&b.tiers)
            .bind(&b.countries)
            .bind(&b.registered_regions)
            .bind(&b.requested)
            .bind(&b.registered)
            .bind(&b.shards)
            .bind(&b.projects)
            .bind(&b.provisioned_regions)
            .bind(&b.levels)
            .bind(&b.notebooks)
            .bind(&b.provisioned)
            .fetch_one(&mut *conn)
            .await?;
            Ok(Applied {
                duplicates: folded.saturating_sub(changed as usize),
            })
        })
    }
}

/// A batch's companies as the parallel arrays of `apply_companies_batch` (sorted by company,
/// so concurrent batches lock rows in one order).
#[derive(Default)]
struct Batch {
    ids: Vec<Uuid>,
    names: Vec<Option<String>>,
    tiers: Vec<Option<String>>,
    countries: Vec<Option<String>>,
    registered_regions: Vec<Option<String>>,
    requested: Vec<Option<String>>,
    registered: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    shards: Vec<Option<i32>>,
    projects: Vec<Option<String>>,
    provisioned_regions: Vec<Option<String>>,
    levels: Vec<Option<String>>,
    notebooks: Vec<Option<String>>,
    provisioned: Vec<Option<chrono::DateTime<chrono::Utc>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ai_config_is_the_tier_table_row_with_null_for_unlimited() {
        let mut tiers = TierTable::default();
        tiers
            .get_mut(trestle_tiers::Tier::Enterprise)
            .included_queries_per_month = None;
        let projection = CompaniesProjection::new(Some(1), &tiers);
        let d = &projection.tier_defaults;
        assert_eq!(d["professional"]["requests_per_minute"], 30);
        assert_eq!(d["professional"]["max_in_flight"], 4);
        assert_eq!(d["professional"]["monthly_price_micro_usd"], 199_000_000);
        assert_eq!(d["professional"]["included_queries_per_month"], 12_000);
        assert_eq!(
            d["professional"]["included_cost_micro_usd_per_month"],
            50_000_000
        );
        assert!(d["enterprise"]["included_queries_per_month"].is_null());
        assert_eq!(d["unknown"], d["starter"]);
    }
}
