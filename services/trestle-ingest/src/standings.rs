//! Which companies onboarding has registered and provisioned, and the database shard each
//! lives in, folded from the `tenants` topic in the background, so ingest refuses the requests
//! of the others with a 409 naming the company's standing instead of accepting what the engine
//! would refuse, and reads a company's job documents from its shard.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use trestle_events::Event;
use trestle_kafka::follow::{CaughtUp, FollowGuard};
use uuid::Uuid;

/// How far a company got through onboarding, as ingest has read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    NotRegistered,
    Registered,
    Provisioned,
}

/// The companies' standings; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Standings(Arc<RwLock<HashMap<Uuid, Known>>>);

/// What ingest knows of one company.
#[derive(Debug, Clone, Copy)]
struct Known {
    standing: Standing,
    /// The shard of its newest provisioning, and when that happened.
    shard: Option<(i32, DateTime<Utc>)>,
}

impl Standings {
    pub fn get(&self, company: &Uuid) -> Standing {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(company)
            .map_or(Standing::NotRegistered, |k| k.standing)
    }

    /// The database shard the company's newest provisioning put it in; `None` until it is
    /// provisioned. A move between shards is a newer provisioning (its cut-over), so the
    /// company follows it; an older one read late never moves it back.
    pub fn shard(&self, company: &Uuid) -> Option<i32> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(company)
            .and_then(|k| k.shard)
            .map(|(shard, _)| shard)
    }

    /// Folds one `tenants` event in.
    pub fn apply(&self, event: &Event) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::CompanyRegistered(e) => {
                map.entry(e.meta.company_id).or_insert(Known {
                    standing: Standing::Registered,
                    shard: None,
                });
            }
            Event::TenantProvisioned(e) => {
                let known = map.entry(e.meta.company_id).or_insert(Known {
                    standing: Standing::Provisioned,
                    shard: None,
                });
                known.standing = Standing::Provisioned;
                let at = e.meta.occurred_at;
                if known.shard.is_none_or(|(_, newest)| newest <= at) {
                    known.shard = Some((e.database_shard, at));
                }
            }
            _ => {}
        }
    }

    /// Follows `tenants` from the beginning; waits up to `catch_up` for what is on it now.
    pub async fn follow(
        &self,
        kafka: &trestle_kafka::KafkaOptions,
        catch_up: Duration,
    ) -> Result<FollowGuard, trestle_kafka::Error> {
        let standings = self.clone();
        let fold = move |event: &Event| standings.apply(event);
        let (guard, state) =
            trestle_kafka::follow::follow(kafka, &["tenants"], "ingest-tenants", catch_up, fold)
                .await?;
        if state == CaughtUp::NotYet {
            tracing::warn!(
                message = "Ingest has not read all of the tenants topic yet; companies it has not read are refused (409) meanwhile.",
                waited_ms = catch_up.as_millis() as u64
            );
        }
        Ok(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trestle_events::{IsolationLevel, Meta, Region, TenantProvisioned};

    fn provisioned(company: Uuid, shard: i32, at: DateTime<Utc>) -> Event {
        let mut meta = Meta::root(company);
        meta.occurred_at = at;
        Event::TenantProvisioned(TenantProvisioned {
            meta,
            region: Region::Eu,
            database_shard: shard,
            cloud_project_id: "eu-1".into(),
            isolation_level: IsolationLevel::Shared,
            kb_notebook_id: String::new(),
        })
    }

    #[test]
    fn a_company_is_in_the_shard_of_its_newest_provisioning() {
        let standings = Standings::default();
        let company = Uuid::now_v7();
        assert_eq!(standings.shard(&company), None);
        let t0 = Utc::now();
        standings.apply(&provisioned(company, 0, t0));
        assert_eq!(standings.get(&company), Standing::Provisioned);
        assert_eq!(standings.shard(&company), Some(0));
        // A move's cut-over is a newer provisioning; an older one read late changes nothing.
        standings.apply(&provisioned(company, 1, t0 + chrono::Duration::seconds(5)));
        standings.apply(&provisioned(company, 0, t0 + chrono::Duration::seconds(1)));
        assert_eq!(standings.shard(&company), Some(1));
    }
}
