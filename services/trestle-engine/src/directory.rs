//! The tenant directory: each company's tier, region and cloud project, folded from the
//! `tenants` topic into memory so the scheduler and the ladder can look them up per record —
//! and the price books, folded from `price-books`, so usage is priced by the version in effect.
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

use backon::Retryable;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use trestle_events::{Event, PriceBookPublished, Region};
use trestle_tiers::Tier;
use uuid::Uuid;

use crate::pricing::PriceBook;
use crate::Error;

/// What the engine knows about one company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub tier: Tier,
    pub region: Region,
    /// Cloud project its AI calls go through (breakers are per provider, project and region).
    pub cloud_project: String,
    /// How far onboarding got: only a provisioned company is served.
    pub standing: Standing,
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
        }
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
                let entry = tenants
                    .entry(e.meta.company_id)
                    .or_insert_with(|| (*self.default).clone());
                if e.region != Region::Unknown {
                    entry.region = e.region;
                }
                if !e.cloud_project_id.is_empty() {
                    entry.cloud_project = e.cloud_project_id.clone();
                }
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

    /// Starts following the `tenants` and `price-books` topics in the background and waits
    /// until everything that was on them at start is folded in, or `catch_up` has passed (then
    /// it logs a warning and returns: the engine serves meanwhile, unknown companies as
    /// starters). The task runs until the returned guard is dropped.
    pub async fn follow(
        &self,
        kafka: &trestle_kafka::KafkaOptions,
        catch_up: Duration,
    ) -> Result<FollowGuard, Error> {
        let group = format!("{}engine-directory-{}", kafka.topic_prefix, Uuid::new_v4());
        let consumer: StreamConsumer =
            kafka.consumer_config(&group).create().map_err(|source| {
                trestle_kafka::Error::Setup {
                    what: "tenant directory consumer",
                    source,
                }
            })?;
        // A topic created moments ago may not have a leader everywhere yet
        // (NotLeaderForPartition): retry the metadata and watermarks a few times.
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_times(8);
        let mut remaining = (|| async { assign_from_start(&consumer, kafka) })
            .retry(backoff)
            .notify(|error, delay| {
                tracing::warn!(message = "Reading the tenant directory's topics failed; retrying.", %error, retry_in_ms = delay.as_millis() as u64);
            })
            .await?;
        let (caught_up_tx, caught_up) = tokio::sync::oneshot::channel::<()>();
        let directory = self.clone();
        let task = tokio::spawn(async move {
            let mut caught_up_tx = Some(caught_up_tx);
            if remaining.is_empty() {
                let _ = caught_up_tx.take().map(|tx| tx.send(()));
            }
            loop {
                match consumer.recv().await {
                    Ok(m) => {
                        let (partition, offset) = (m.partition(), m.offset());
                        let at = (m.topic().to_owned(), partition);
                        match m.payload().map(trestle_events::decode) {
                            Some(Ok(event)) => directory.apply(&event),
                            Some(Err(error)) => tracing::warn!(
                                message = "Skipping an undecodable record.",
                                topic = m.topic(), partition, offset, %error
                            ),
                            None => {}
                        }
                        drop(m);
                        if let Some(&high) = remaining.get(&at) {
                            if offset + 1 >= high {
                                remaining.remove(&at);
                            }
                        }
                        if remaining.is_empty() {
                            if let Some(tx) = caught_up_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(message = "Reading the tenants or price-books topic failed; retrying.", %error);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        if tokio::time::timeout(catch_up, caught_up).await.is_err() {
            tracing::warn!(
                message = "The tenant directory has not caught up; companies it has not read yet wait for it or are refused meanwhile.",
                companies = self.len(),
                waited_ms = catch_up.as_millis() as u64
            );
        }
        Ok(FollowGuard(task))
    }
}

/// Assigns every partition of `tenants` and `price-books` from the beginning; returns where
/// each non-empty partition ended at start (caught up once every one is reached).
fn assign_from_start(
    consumer: &StreamConsumer,
    kafka: &trestle_kafka::KafkaOptions,
) -> Result<HashMap<(String, i32), i64>, Error> {
    let mut tpl = TopicPartitionList::new();
    // Where each partition ended at start: caught up once every one is reached.
    let mut remaining: HashMap<(String, i32), i64> = HashMap::new();
    for logical in ["tenants", "price-books"] {
        let topic = kafka.topic(logical);
        let consume_error = |source| trestle_kafka::Error::Consume {
            topic: topic.clone(),
            source,
        };
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .map_err(consume_error)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        for p in partitions {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)
                .map_err(consume_error)?;
            let (low, high) = consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(10))
                .map_err(consume_error)?;
            if high > low {
                remaining.insert((topic.clone(), p), high);
            }
        }
    }
    consumer
        .assign(&tpl)
        .map_err(|source| trestle_kafka::Error::Consume {
            topic: kafka.topic("tenants"),
            source,
        })?;
    Ok(remaining)
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

/// Stops the directory's reader when dropped.
#[derive(Debug)]
pub struct FollowGuard(tokio::task::JoinHandle<()>);

impl Drop for FollowGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trestle_events::{CompanyRegistered, IsolationLevel, Meta, TenantProvisioned};

    fn default() -> Tenant {
        Tenant {
            tier: Tier::Starter,
            region: Region::Us,
            cloud_project: "shared-0".into(),
            standing: Standing::Unknown,
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
            (t.tier, t.region, t.cloud_project.as_str(), t.standing),
            (
                Tier::Enterprise,
                Region::Eu,
                "dedicated-acme",
                Standing::Provisioned
            )
        );
    }
}
