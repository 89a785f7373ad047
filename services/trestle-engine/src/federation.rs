//! Cloud-project federation: the pool of cloud projects as the engine knows it (folded from
//! `cloud-projects` and `tenants` by the directory), and the projects a company's provider call
//! may go through, in order. Its own project first; when that one is in maintenance, its circuit
//! for the provider is open or its daily quota is used up, a spare:
//!
//! - a **shared** company: another project of its region that is not in maintenance and not
//!   dedicated to a company, ordered by rendezvous hashing of (company, project), so the
//!   companies of a project in maintenance spread evenly over the others and each keeps the
//!   same spare (its cache and quota stay in one place);
//! - a **dedicated** company: only a spare project of its own (registered with
//!   `dedicated_company_id` = the company), never a shared one; with none it gets the limited
//!   answer.
//!
//! No call leaves the company's region (data residency). A project whose region is not known
//! yet is never a spare.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use trestle_events::{Event, IsolationLevel, Region};
use uuid::Uuid;

/// What the engine knows of one cloud project.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Project {
    region: Region,
    maintenance: bool,
    /// The one company the project belongs to; `None` for a shared pool project.
    dedicated_to: Option<Uuid>,
}

impl Default for Project {
    fn default() -> Self {
        Project {
            region: Region::Unknown,
            maintenance: false,
            dedicated_to: None,
        }
    }
}

/// The projects a call may go through: the company's own, then its spares in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub home: String,
    /// The company's own project is in maintenance: pass it over.
    pub home_in_maintenance: bool,
    pub spares: Vec<String>,
}

/// The cloud projects of every region, shared by every request task. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    projects: Arc<RwLock<HashMap<String, Project>>>,
}

impl Pool {
    /// Folds one event of `cloud-projects` or `tenants` in; others are ignored.
    pub(crate) fn apply(&self, event: &Event) {
        let mut projects = self.projects.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::CloudProjectRegistered(e) => {
                let project = projects.entry(e.cloud_project_id.clone()).or_default();
                if e.region != Region::Unknown {
                    project.region = e.region;
                }
                project.dedicated_to = e.dedicated_company_id;
            }
            Event::CloudProjectMaintenanceSet(e) => {
                let project = projects.entry(e.cloud_project_id.clone()).or_default();
                project.maintenance = e.maintenance;
            }
            Event::TenantProvisioned(e) if !e.cloud_project_id.is_empty() => {
                let project = projects.entry(e.cloud_project_id.clone()).or_default();
                if project.region == Region::Unknown {
                    project.region = e.region;
                }
                if e.isolation_level == IsolationLevel::Dedicated && project.dedicated_to.is_none()
                {
                    project.dedicated_to = Some(e.meta.company_id);
                }
            }
            _ => {}
        }
    }

    /// Whether `project` is known to be in maintenance.
    pub fn in_maintenance(&self, project: &str) -> bool {
        let projects = self.projects.read().unwrap_or_else(|e| e.into_inner());
        projects.get(project).is_some_and(|p| p.maintenance)
    }

    /// The projects a call of `company` (living in `region`, with its own project `home`) may
    /// go through.
    pub(crate) fn route(
        &self,
        company: Uuid,
        home: &str,
        region: Region,
        isolation: IsolationLevel,
    ) -> Route {
        let projects = self.projects.read().unwrap_or_else(|e| e.into_inner());
        let dedicated = isolation == IsolationLevel::Dedicated;
        let mut spares: Vec<(u32, &String)> = projects
            .iter()
            .filter(|(id, p)| {
                id.as_str() != home
                    && !p.maintenance
                    && p.region == region
                    && region != Region::Unknown
                    && if dedicated {
                        p.dedicated_to == Some(company)
                    } else {
                        p.dedicated_to.is_none()
                    }
            })
            .map(|(id, _)| (rendezvous(company, id), id))
            .collect();
        spares.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        Route {
            home: home.to_owned(),
            home_in_maintenance: projects.get(home).is_some_and(|p| p.maintenance),
            spares: spares.into_iter().map(|(_, id)| id.clone()).collect(),
        }
    }
}

/// The rendezvous score of `project` for `company`: the highest-scoring spare is tried first.
/// Kafka's murmur2 of "company/project", so the order is stable across builds and instances.
fn rendezvous(company: Uuid, project: &str) -> u32 {
    let key = format!("{}/{project}", company.hyphenated());
    trestle_kafka::murmur2(key.as_bytes()) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use trestle_events::{CloudProjectMaintenanceSet, CloudProjectRegistered, Meta};

    fn register(pool: &Pool, id: &str, region: Region, dedicated_to: Option<Uuid>) {
        pool.apply(&Event::CloudProjectRegistered(CloudProjectRegistered {
            meta: Meta::root(trestle_events::PLATFORM_COMPANY_ID),
            cloud_project_id: id.into(),
            region,
            notebook_limit: 50_000,
            dedicated_company_id: dedicated_to,
        }));
    }

    fn maintenance(pool: &Pool, id: &str, on: bool) {
        pool.apply(&Event::CloudProjectMaintenanceSet(
            CloudProjectMaintenanceSet {
                meta: Meta::root(trestle_events::PLATFORM_COMPANY_ID),
                cloud_project_id: id.into(),
                maintenance: on,
            },
        ));
    }

    #[test]
    fn a_shared_company_spares_are_the_active_shared_projects_of_its_region_only() {
        let pool = Pool::default();
        let company = Uuid::now_v7();
        register(&pool, "eu-1", Region::Eu, None);
        register(&pool, "eu-2", Region::Eu, None);
        register(&pool, "eu-3", Region::Eu, None);
        register(&pool, "eu-dedicated", Region::Eu, Some(Uuid::now_v7()));
        register(&pool, "us-1", Region::Us, None);
        maintenance(&pool, "eu-3", true);
        let route = pool.route(company, "eu-1", Region::Eu, IsolationLevel::Shared);
        assert_eq!(route.spares, vec!["eu-2".to_string()]);
        assert!(!route.home_in_maintenance);
        maintenance(&pool, "eu-1", true);
        maintenance(&pool, "eu-3", false);
        let route = pool.route(company, "eu-1", Region::Eu, IsolationLevel::Shared);
        assert!(route.home_in_maintenance);
        let mut spares = route.spares.clone();
        spares.sort();
        assert_eq!(spares, vec!["eu-2".to_string(), "eu-3".to_string()]);
    }

    #[test]
    fn a_dedicated_company_fails_over_only_to_its_own_spare() {
        let pool = Pool::default();
        let company = Uuid::now_v7();
        register(&pool, "eu-1", Region::Eu, None);
        register(&pool, "own", Region::Eu, Some(company));
        let route = pool.route(company, "own", Region::Eu, IsolationLevel::Dedicated);
        assert!(route.spares.is_empty(), "{route:?}");
        register(&pool, "own-spare", Region::Eu, Some(company));
        let route = pool.route(company, "own", Region::Eu, IsolationLevel::Dedicated);
        assert_eq!(route.spares, vec!["own-spare".to_string()]);
    }

    #[test]
    fn companies_of_a_project_in_maintenance_spread_over_the_others_and_keep_their_spare() {
        let pool = Pool::default();
        for i in 0..5 {
            register(&pool, &format!("eu-{i}"), Region::Eu, None);
        }
        maintenance(&pool, "eu-0", true);
        let mut first = HashMap::<String, usize>::new();
        for _ in 0..4000 {
            let company = Uuid::new_v4();
            let route = pool.route(company, "eu-0", Region::Eu, IsolationLevel::Shared);
            let again = pool.route(company, "eu-0", Region::Eu, IsolationLevel::Shared);
            assert_eq!(route, again, "a company keeps its order");
            *first.entry(route.spares[0].clone()).or_default() += 1;
        }
        assert_eq!(first.len(), 4, "{first:?}");
        assert!(
            first.values().all(|&n| (800..1200).contains(&n)),
            "{first:?}"
        );
    }
}
