//! The tenant directory: each company's tier, region, cloud project and shard, folded from the
//! `tenants` topic into memory so the scheduler and the ladder can look them up per record —
//! the price books, folded from `price-books`, so usage is priced by the version in effect —
//! and the cloud-project pool, folded from `cloud-projects` (and `tenants`), so a call can fail
//! over to another project (`federation`).
//!
//! Every engine instance reads the whole topic (manual assignment from the beginning, no
//! consumer group, read_committed): the directory is small (a few hundred bytes per company)
//! and must be complete on every instance, whichever partitions of `ai-requests` it owns.
//! Only a provisioned company is served (unless `unprovisioned = "serve_as_starter"`); one not
//! (yet) in the directory is looked up with the default entry — a starter in the default
//! project, the least privileged — and its standing says why it is not served.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use trestle_events::{Event, IsolationLevel, PriceBookPublished, Region};
use trestle_kafka::follow::{CaughtUp, FollowGuard};
use trestle_tiers::Tier;
use uuid::Uuid;

use crate::federation::Pool;
use crate::pricing::PriceBook;
use crate::Error;

/// What the engine knows about one company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub tier: Tier,
    pub region: Region,
    /// Cloud project its AI calls go through (breakers are per provider, project and region).
    pub cloud_project: String,
    /// Shared or dedicated capacity: a dedicated company's calls fail over only to a spare
    /// project of its own.
    pub isolation: IsolationLevel,
    /// How far onboarding got: only a provisioned company is served.
    pub standing: Standing,
    /// Its database shard (where its jobs, notebooks and documents are read); `None` until
    /// provisioned.
    pub shard: Option<i32>,
}

/// How far a company got through onboarding, as the directory has read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No registration read.
    Unknown,
    /// Registered, not provisioned yet.
    Registered,
    /// Provisioned: placed on a shard and a cloud project; served.
    Provisioned,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Unknown => "not registered",
            Standing::Registered => "registered, not provisioned yet",
            Standing::Provisioned => "provisioned",
        }
    }
}

/// Published price books: version → (effective from, unit prices).
type PublishedBooks = BTreeMap<i32, (DateTime<Utc>, PriceBook)>;

/// Shared, read-mostly view of the `tenants` and `price-books` topics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Directory {
    tenants: Arc<RwLock<HashMap<Uuid, Tenant>>>,
    default: Arc<Tenant>,
    /// Published price books by version, with the date each takes effect.
    price_books: Arc<RwLock<PublishedBooks>>,
    /// The configured price book: used until a published one is in effect.
    configured: Arc<PriceBook>,
    /// Woken whenever a provisioning is folded in.
    provisioned: Arc<tokio::sync::Notify>,
    /// The cloud projects of every region.
    pool: Pool,
    /// When each company's provisioning in effect happened: an older one read later (a
    /// re-published event) never undoes a newer one (a move), as in the routing projection.
    provisioned_at: Arc<RwLock<HashMap<Uuid, DateTime<Utc>>>>,
}

impl Directory {
    /// An empty directory whose unknown companies get `default`, pricing with `configured`
    /// until a published price book is in effect.
    pub fn new(default: Tenant, configured: PriceBook) -> Self {
        Directory {
            tenants: Arc::default(),
            default: Arc::new(default),
            price_books: Arc::default(),
            configured: Arc::new(configured),
            provisioned: Arc::default(),
            pool: Pool::default(),
            provisioned_at: Arc::default(),
        }
    }

    /// The cloud-project pool as read so far.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The price book in effect at `at`: the highest published version whose `effective_from`
    /// is not after it, or the configured one if none is.
    pub fn price_book(&self, at: DateTime<Utc>) -> PriceBook {
        let books = self.price_books.read().unwrap_or_else(|e| e.into_inner());
        books
            .values()
            .rev()
            .find(|(from, _)| *from <= at)
            .map(|(_, book)| book.clone())
            .unwrap_or_else(|| (*self.configured).clone())
    }

    /// The company's entry, or the default (starter) one.
    pub fn get(&self, company: &Uuid) -> Tenant {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants
            .get(company)
            .cloned()
            .unwrap_or_else(|| (*self.default).clone())
    }

    /// The company's entry once it is provisioned, waiting up to `timeout` for the provisioning
    /// to be read (a request can reach the engine just before the directory reads it); else
    /// what is known then.
    pub async fn wait_provisioned(&self, company: &Uuid, timeout: Duration) -> Tenant {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.provisioned.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let tenant = self.get(company);
            if tenant.standing == Standing::Provisioned {
                return tenant;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.get(company);
            }
        }
    }

    /// Companies known.
    pub fn len(&self) -> usize {
        self.tenants.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no company is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Folds one event of the `tenants` topic in.
    pub fn apply(&self, event: &Event) {
        self.pool.apply(event);
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::CompanyRegistered(e) => {
                let entry = tenants
                    .entry(e.meta.company_id)
                    .or_insert_with(|| (*self.default).clone());
                // A tier this build does not know keeps what the company had.
                if e.tier != trestle_events::Tier::Unknown {
                    entry.tier = e.tier.into();
                }
                if e.region != Region::Unknown {
                    entry.region = e.region;
                }
                if entry.standing == Standing::Unknown {
                    entry.standing = Standing::Registered;
                }
            }
            Event::TenantProvisioned(e) => {
                let mut at = self
                    .provisioned_at
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                let newest = at.entry(e.meta.company_id).or_insert(e.meta.occurred_at);
                if *newest > e.meta.occurred_at {
                    return;
                }
                *newest = e.meta.occurred_at;
                drop(at);
                let entry = tenants
                    .entry(e.meta.company_id)
                    .or_insert_with(|| (*self.default).clone());
                if e.region != Region::Unknown {
                    entry.region = e.region;
                }
                if !e.cloud_project_id.is_empty() {
                    entry.cloud_project = e.cloud_project_id.clone();
                }
                if e.isolation_level != IsolationLevel::Unknown {
                    entry.isolation = e.isolation_level;
                }
                entry.shard = Some(e.database_shard);
                entry.standing = Standing::Provisioned;
                drop(tenants);
                self.provisioned.notify_waiters();
            }
            Event::PriceBookPublished(e) => {
                let mut books = self.price_books.write().unwrap_or_else(|e| e.into_inner());
                // The first event of a version stands (as in the billing projection).
                books
                    .entry(e.version)
                    .or_insert_with(|| (e.effective_from, price_book_of(e)));
            }
            _ => {}
        }
    }

    /// Starts following the `tenants`, `price-books` and `cloud-projects` topics in the background and waits
    /// until everything that was on them at start is folded in, or `catch_up` has passed (then
    /// it logs a warning and returns: the engine serves meanwhile, unknown companies as
    /// starters). The task runs until the returned guard is dropped.
    pub async fn follow(
        &self,
        kafka: &trestle_kafka::KafkaOptions,
        catch_up: Duration,
    ) -> Result<FollowGuard, Error> {
        let directory = self.clone();
        let topics = ["tenants", "price-books", "cloud-projects"];
        let fold = move |event: &Event| directory.apply(event);
        let (guard, state) =
            trestle_kafka::follow::follow(kafka, &topics, "engine-directory", catch_up, fold)
                .await?;
        if state == CaughtUp::NotYet {
            tracing::warn!(
                message = "The tenant directory has not caught up; companies it has not read yet wait for it or are refused meanwhile.",
                companies = self.len(),
                waited_ms = catch_up.as_millis() as u64
            );
        }
        Ok(guard)
    }
}

/// The engine's price book of a published one (unit prices per meter and the version).
fn price_book_of(e: &PriceBookPublished) -> PriceBook {
    PriceBook {
        version: e.version,
        notebooklm_queries: e.notebooklm_queries_unit_micro_usd,
        gemini_flash_queries: e.gemini_flash_queries_unit_micro_usd,
        gemini_pro_queries: e.gemini_pro_queries_unit_micro_usd,
        document_pages: e.document_pages_unit_micro_usd,
        vision_images: e.vision_images_unit_micro_usd,
        speech_minutes: e.speech_minutes_unit_micro_usd,
        tts_characters: e.tts_characters_unit_micro_usd,
        embedding_tokens: e.embedding_tokens_unit_micro_usd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trestle_events::{CompanyRegistered, Meta, TenantProvisioned};

    fn default() -> Tenant {
        Tenant {
            tier: Tier::Starter,
            region: Region::Us,
            cloud_project: "shared-0".into(),
            isolation: IsolationLevel::Shared,
            standing: Standing::Unknown,
            shard: None,
        }
    }

    #[test]
    fn unknown_companies_are_unknown_starters_and_registration_sets_tier_then_provisioning_the_project(
    ) {
        let directory = Directory::new(default(), PriceBook::default());
        let company = Uuid::now_v7();
        assert_eq!(directory.get(&company), default());
        directory.apply(&Event::CompanyRegistered(CompanyRegistered {
            meta: Meta::root(company),
            name: "Acme".into(),
            tier: trestle_events::Tier::Enterprise,
            country: "DE".into(),
            region: Region::Eu,
            isolation: trestle_events::IsolationLevel::Shared,
        }));
        assert_eq!(directory.get(&company).standing, Standing::Registered);
        directory.apply(&Event::TenantProvisioned(TenantProvisioned {
            meta: Meta::root(company),
            region: Region::Eu,
            database_shard: 3,
            cloud_project_id: "dedicated-acme".into(),
            isolation_level: IsolationLevel::Dedicated,
            kb_notebook_id: "kb".into(),
        }));
        let t = directory.get(&company);
        assert_eq!(
            (
                t.tier,
                t.region,
                t.cloud_project.as_str(),
                t.standing,
                t.shard
            ),
            (
                Tier::Enterprise,
                Region::Eu,
                "dedicated-acme",
                Standing::Provisioned,
                Some(3)
            )
        );
    }

    #[test]
    fn an_older_provisioning_read_later_does_not_undo_a_newer_one() {
        let directory = Directory::new(default(), PriceBook::default());
        let company = Uuid::now_v7();
        let provisioned = |project: &str, micros: i64| {
            let mut meta = Meta::root(company);
            meta.occurred_at = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            Event::TenantProvisioned(TenantProvisioned {
                meta,
                region: Region::Eu,
                database_shard: 0,
                cloud_project_id: project.into(),
                isolation_level: IsolationLevel::Shared,
                kb_notebook_id: String::new(),
            })
        };
        directory.apply(&provisioned("eu-1", 1_000));
        directory.apply(&provisioned("eu-2", 2_000));
        directory.apply(&provisioned("eu-1", 1_000));
        assert_eq!(directory.get(&company).cloud_project, "eu-2");
    }
}
