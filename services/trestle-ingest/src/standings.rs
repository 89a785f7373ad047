//! Which companies onboarding has registered and provisioned, folded from the `tenants` topic
//! in the background, so ingest refuses the AI requests of the others with a 409 naming the
//! company's standing instead of accepting what the engine would refuse.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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
pub struct Standings(Arc<RwLock<HashMap<Uuid, Standing>>>);

impl Standings {
    pub fn get(&self, company: &Uuid) -> Standing {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(company).copied().unwrap_or(Standing::NotRegistered)
    }

    /// Folds one `tenants` event in.
    pub fn apply(&self, event: &Event) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::CompanyRegistered(e) => {
                map.entry(e.meta.company_id).or_insert(Standing::Registered);
            }
            Event::TenantProvisioned(e) => {
                map.insert(e.meta.company_id, Standing::Provisioned);
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
