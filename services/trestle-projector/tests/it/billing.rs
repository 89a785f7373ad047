//! Billing: statements priced from the versioned price book, over real usage folded by the usage
//! projection running beside the billing projection on the same shard database.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use trestle_events::{CompanyRegistered, Event, Meta, Meter, PriceBookPublished, Region, Tier};
use trestle_kafka::EventProducer;
use trestle_projector::{ProjectionKind, ProjectorConfig};
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::support::*;

const TIMEOUT: Duration = Duration::from_secs(60);

fn month(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).unwrap()
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

/// The seed's tiers: $99/$199/$349/$999 including $20/$50/$80/$150 of AI cost, overage at
/// `markup_bp` over cost, the engine's default unit prices.
fn price_book(version: i32, effective: NaiveDate, markup_bp: i32) -> PriceBookPublished {
    PriceBookPublished {
        meta: Meta::platform(),
        version,
        effective_from: effective.and_hms_opt(0, 0, 0).unwrap().and_utc(),
        starter_price_micro_usd: 99_000_000,
        professional_price_micro_usd: 199_000_000,
        premium_price_micro_usd: 349_000_000,
        enterprise_price_micro_usd: 999_000_000,
        starter_included_ai_cost_micro_usd: 20_000_000,
        professional_included_ai_cost_micro_usd: 50_000_000,
        premium_included_ai_cost_micro_usd: 80_000_000,
        enterprise_included_ai_cost_micro_usd: 150_000_000,
        overage_markup_bp: markup_bp,
        notebooklm_queries_unit_micro_usd: 5_000,
        gemini_flash_queries_unit_micro_usd: 100,
        gemini_pro_queries_unit_micro_usd: 2_000,
        document_pages_unit_micro_usd: 20_000,
        vision_images_unit_micro_usd: 1_500,
        speech_minutes_unit_micro_usd: 16_000,
        tts_characters_unit_micro_usd: 4,
        embedding_tokens_unit_micro_usd: 1,
        note: String::new(),
    }
}

fn registered(company: Uuid, tier: Tier, when: DateTime<Utc>) -> Event {
    let mut meta = Meta::root(company);
    meta.occurred_at = when;
    Event::CompanyRegistered(CompanyRegistered {
        meta,
        name: format!("Company {company}"),
        tier,
        country: "US".into(),
        region: Region::Us,
    })
}

/// A gemini-pro usage increment of `cost` micro-USD at `when`.
fn used(company: Uuid, cost: i64, when: DateTime<Utc>) -> Event {
    let mut event = usage(company, Uuid::now_v7(), Meter::GeminiProQueries, 1000, cost);
    event.meta_mut().occurred_at = when;
    event
}

fn billing_config(topics: &TestTopics, db: &TestDb) -> ProjectorConfig {
    ProjectorConfig {
        group_id: topics.group("billing"),
        projection: ProjectionKind::Billing,
        ..config(topics, db)
    }
}

/// Waits until `projector`'s stored offsets reach the end of every partition of `logical`.
async fn wait_offsets(topics: &TestTopics, pool: &sqlx::PgPool, projector: &str, logical: &[&str]) {
    for name in logical {
        let topic = topics.topic(name);
        let end = trestle_testkit::end_offsets(&topics.options, &topic).unwrap();
        trestle_testkit::wait_for(
            &format!("the {projector} projection to reach the end of {name}"),
            TIMEOUT,
            || {
                let (end, topic) = (end.clone(), topic.clone());
                async move {
                    let stored = stored_offsets(pool, projector, &topic).await;
                    end.iter()
                        .all(|(p, high)| {
                            *high == 0 || stored.iter().any(|(sp, so)| sp == p && so >= high)
                        })
                        .then_some(())
                }
            },
        )
        .await;
    }
}

async fn stored_offsets(pool: &sqlx::PgPool, projector: &str, topic: &str) -> Vec<(i32, i64)> {
    sqlx::query_as(
        "SELECT partition, next_offset FROM projector_offsets
          WHERE projector = $1 AND topic = $2 ORDER BY partition",
    )
    .bind(projector)
    .bind(topic)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// One row of `billing_statements`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct Statement {
    company_id: Uuid,
    month: NaiveDate,
    tier: String,
    price_book_version: Option<i32>,
    tier_price_micro_usd: Option<i64>,
    ai_cost_micro_usd: i64,
    included_ai_cost_micro_usd: Option<i64>,
    overage_micro_usd: Option<i64>,
    overage_charge_micro_usd: Option<i64>,
    total_due_micro_usd: Option<i64>,
    margin_micro_usd: Option<i64>,
    gemini_pro_queries: i64,
}

const STATEMENT: &str = "SELECT company_id, month, tier, price_book_version, tier_price_micro_usd,
        ai_cost_micro_usd, included_ai_cost_micro_usd, overage_micro_usd,
        overage_charge_micro_usd, total_due_micro_usd, margin_micro_usd, gemini_pro_queries
   FROM billing_statements";

/// Every statement `company` can read, as that tenant (trestle_app, row-level security).
async fn statements(pool: &sqlx::PgPool, company: Uuid) -> Vec<Statement> {
    let mut tx = trestle_store::begin_for_tenant(pool, company)
        .await
        .unwrap();
    let rows = sqlx::query_as(&format!("{STATEMENT} ORDER BY company_id, month"))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows
}

async fn statement(pool: &sqlx::PgPool, company: Uuid, m: NaiveDate) -> Statement {
    statements(pool, company)
        .await
        .into_iter()
        .find(|s| s.month == m)
        .unwrap_or_else(|| panic!("no statement of {company} for {m}"))
}

/// The usage and billing projections side by side on one shard database.
struct Running {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn start(configs: Vec<ProjectorConfig>) -> Self {
        let (stops, handles) = configs.into_iter().map(spawn).unzip();
        Running { stops, handles }
    }

    async fn stop(self) {
        drop(self.stops);
        for h in self.handles {
            h.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_is_the_tier_price_plus_the_marked_up_overage_of_the_months_usage() {
    let topics = TestTopics::create("billing_statement", 2).await.unwrap();
    let db = TestDb::shard("billing_statement").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (pro, starter) = (Uuid::now_v7(), Uuid::now_v7());
    let jan = |d| at(2025, 1, d);
    let twice = used(starter, 1_000_000, jan(9));
    publish_all(
        &producer,
        &[
            price_book(1, month(2025, 1), 5_000).into(),
            registered(pro, Tier::Professional, jan(5)),
            registered(starter, Tier::Starter, jan(3)),
            used(pro, 30_000_000, jan(6)),
            used(pro, 25_000_000, jan(20)),
            used(pro, 5_000_123, jan(31)),
            twice.clone(),
            twice, // a producer retry: the usage projection counts it once
        ],
    )
    .await;
    let running = Running::start(vec![config(&topics, &db), billing_config(&topics, &db)]);
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, TIMEOUT).await;
    wait_offsets(&topics, &pool, "billing", &["price-books", "tenants"]).await;

    // Professional: $60.000123 of AI cost, $50 included; the $10.000123 beyond it at cost + 50 %
    // is $15.0001845, rounded down to the micro-dollar.
    assert_eq!(
        statement(&pool, pro, month(2025, 1)).await,
        Statement {
            company_id: pro,
            month: month(2025, 1),
            tier: "professional".into(),
            price_book_version: Some(1),
            tier_price_micro_usd: Some(199_000_000),
            ai_cost_micro_usd: 60_000_123,
            included_ai_cost_micro_usd: Some(50_000_000),
            overage_micro_usd: Some(10_000_123),
            overage_charge_micro_usd: Some(15_000_184),
            total_due_micro_usd: Some(214_000_184),
            margin_micro_usd: Some(154_000_061),
            gemini_pro_queries: 3,
        }
    );
    // Starter, within its $20: the tier price, all of it margin but the AI cost.
    assert_eq!(
        statement(&pool, starter, month(2025, 1)).await,
        Statement {
            company_id: starter,
            month: month(2025, 1),
            tier: "starter".into(),
            price_book_version: Some(1),
            tier_price_micro_usd: Some(99_000_000),
            ai_cost_micro_usd: 1_000_000,
            included_ai_cost_micro_usd: Some(20_000_000),
            overage_micro_usd: Some(0),
            overage_charge_micro_usd: Some(0),
            total_due_micro_usd: Some(99_000_000),
            margin_micro_usd: Some(98_000_000),
            gemini_pro_queries: 1,
        }
    );
    // A month without usage still owes the tier price.
    let feb = statement(&pool, pro, month(2025, 2)).await;
    assert_eq!(
        (
            feb.ai_cost_micro_usd,
            feb.total_due_micro_usd,
            feb.price_book_version
        ),
        (0, Some(199_000_000), Some(1))
    );

    running.stop().await;
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_price_book_prices_the_later_months_and_not_the_earlier_ones() {
    let topics = TestTopics::create("billing_versions", 1).await.unwrap();
    let db = TestDb::shard("billing_versions").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let company = Uuid::now_v7();
    let v2 = PriceBookPublished {
        professional_price_micro_usd: 249_000_000,
        professional_included_ai_cost_micro_usd: 60_000_000,
        ..price_book(2, month(2025, 3), 10_000)
    };
    publish_all(
        &producer,
        &[
            registered(company, Tier::Professional, at(2024, 12, 20)),
            price_book(1, month(2025, 1), 5_000).into(),
            used(company, 70_000_000, at(2025, 2, 10)),
            v2.into(),
            used(company, 70_000_000, at(2025, 3, 10)),
        ],
    )
    .await;
    let running = Running::start(vec![config(&topics, &db), billing_config(&topics, &db)]);
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, TIMEOUT).await;
    wait_offsets(&topics, &pool, "billing", &["price-books", "tenants"]).await;

    let summary = |s: Statement| {
        (
            s.price_book_version,
            s.tier_price_micro_usd,
            s.overage_charge_micro_usd,
            s.total_due_micro_usd,
        )
    };
    // December 2024 comes before every price book: unpriced, not priced at zero.
    assert_eq!(
        summary(statement(&pool, company, month(2024, 12)).await),
        (None, None, None, None)
    );
    // February: version 1 ($199, $50 included, +50 %): $20 over, charged $30.
    assert_eq!(
        summary(statement(&pool, company, month(2025, 2)).await),
        (
            Some(1),
            Some(199_000_000),
            Some(30_000_000),
            Some(229_000_000)
        )
    );
    // March, the same usage: version 2 ($249, $60 included, +100 %): $10 over, charged $20.
    assert_eq!(
        summary(statement(&pool, company, month(2025, 3)).await),
        (
            Some(2),
            Some(249_000_000),
            Some(20_000_000),
            Some(269_000_000)
        )
    );
    // April onwards stays on version 2.
    assert_eq!(
        statement(&pool, company, month(2025, 4))
            .await
            .price_book_version,
        Some(2)
    );

    running.stop().await;
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_reads_only_its_own_statements() {
    let topics = TestTopics::create("billing_rls", 2).await.unwrap();
    let db = TestDb::shard("billing_rls").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    publish_all(
        &producer,
        &[
            price_book(1, month(2025, 1), 5_000).into(),
            registered(a, Tier::Premium, at(2025, 1, 2)),
            registered(b, Tier::Enterprise, at(2025, 1, 2)),
            used(a, 1_000, at(2025, 1, 3)),
            used(b, 2_000, at(2025, 1, 3)),
        ],
    )
    .await;
    let running = Running::start(vec![config(&topics, &db), billing_config(&topics, &db)]);
    let pool = trestle_store::connect(&db.options).await.unwrap();
    wait_caught_up(&topics, &pool, TIMEOUT).await;
    wait_offsets(&topics, &pool, "billing", &["price-books", "tenants"]).await;

    for (company, tier) in [(a, "premium"), (b, "enterprise")] {
        let seen = statements(&pool, company).await;
        assert!(!seen.is_empty());
        assert!(
            seen.iter()
                .all(|s| s.company_id == company && s.tier == tier),
            "{company} read {seen:?}"
        );
    }
    // No tenant set: no statement at all (but the price book is platform data, readable).
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM billing_statements")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(none, 0);
    let books: i64 = sqlx::query_scalar("SELECT count(*) FROM price_books")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(books, 1);
    // A tenant cannot write another company's tier.
    let mut tx = trestle_store::begin_for_tenant(&pool, a).await.unwrap();
    let write = sqlx::query("UPDATE company_tiers SET tier = 'starter' WHERE company_id = $1")
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        write.rows_affected(),
        0,
        "another tenant's tier is invisible"
    );
    drop(tx);
    // The view reads with the reader's rights, and the tier table's policy binds everyone.
    let (invoker, rls, forced): (bool, bool, bool) = sqlx::query_as(
        "SELECT (SELECT coalesce('security_invoker=true' = ANY(reloptions), false)
                   FROM pg_class WHERE relname = 'billing_statements'),
                relrowsecurity, relforcerowsecurity
           FROM pg_class WHERE relname = 'company_tiers'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(invoker && rls && forced, "{invoker} {rls} {forced}");

    running.stop().await;
    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}

/// Everything the billing projection wrote, read as the owner would see it per tenant.
async fn billing_state(pool: &sqlx::PgPool, companies: &[Uuid]) -> Vec<String> {
    let mut out: Vec<String> = sqlx::query_as::<_, (i32, NaiveDate, i64, String, Uuid)>(
        "SELECT b.version, b.effective_from, t.monthly_price_micro_usd, t.tier, b.event_id
           FROM price_books b JOIN price_book_tiers t USING (version) ORDER BY 1, 4",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| format!("{r:?}"))
    .collect();
    for company in companies {
        let mut tx = trestle_store::begin_for_tenant(pool, *company)
            .await
            .unwrap();
        let rows: Vec<(Uuid, String, DateTime<Utc>, Uuid)> =
            sqlx::query_as("SELECT company_id, tier, registered_at, event_id FROM company_tiers")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        out.extend(rows.into_iter().map(|r| format!("{r:?}")));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_offsets_are_exact_across_a_restart_and_replayed_events_change_nothing() {
    let topics = TestTopics::create("billing_restart", 2).await.unwrap();
    let db = TestDb::shard("billing_restart").await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let companies: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let registrations: Vec<Event> = companies
        .iter()
        .zip(Tier::ALL.iter().cycle())
        .map(|(c, t)| {
            let tier = if *t == Tier::Unknown {
                Tier::Starter
            } else {
                *t
            };
            registered(*c, tier, at(2025, 1, 7))
        })
        .collect();
    let v1: Event = price_book(1, month(2025, 1), 5_000).into();
    let mut first = registrations.clone();
    first.push(v1.clone());
    publish_all(&producer, &first).await;

    let pool = trestle_store::connect(&db.options).await.unwrap();
    let running = Running::start(vec![billing_config(&topics, &db)]);
    wait_offsets(&topics, &pool, "billing", &["price-books", "tenants"]).await;
    running.stop().await;
    let before = billing_state(&pool, &companies).await;
    assert_eq!(before.len(), 4 + companies.len());

    // While it is down: every registration and the price book published again (same events,
    // as a retrying producer would), a conflicting second "version 1", and an invalid book.
    let conflicting: Event = PriceBookPublished {
        starter_price_micro_usd: 1,
        ..price_book(1, month(2025, 1), 0)
    }
    .into();
    let mid_month: Event = PriceBookPublished {
        effective_from: at(2025, 6, 15),
        ..price_book(7, month(2025, 6), 0)
    }
    .into();
    let mut again = registrations.clone();
    again.extend([v1, conflicting, mid_month]);
    publish_all(&producer, &again).await;

    let running = Running::start(vec![billing_config(&topics, &db)]);
    wait_offsets(&topics, &pool, "billing", &["price-books", "tenants"]).await;
    running.stop().await;
    assert_eq!(billing_state(&pool, &companies).await, before);
    // Offsets are exactly the ends of the topics: nothing skipped, nothing beyond.
    for name in ["price-books", "tenants"] {
        let topic = topics.topic(name);
        let end: Vec<(i32, i64)> = trestle_testkit::end_offsets(&topics.options, &topic)
            .unwrap()
            .into_iter()
            .filter(|(_, high)| *high > 0)
            .collect();
        assert_eq!(
            stored_offsets(&pool, "billing", &topic).await,
            end,
            "{name}"
        );
    }
    // The invalid book went to the dead-letter topic, not into the table.
    let dead =
        trestle_testkit::read_topic(&topics.options, &topics.topic("dead-letter"), 1, TIMEOUT)
            .await;
    assert_eq!(dead.len(), 1);

    // A rebuild from the start of the log (stored offsets back to 0) applies every event a
    // second time and leaves exactly the same rows.
    sqlx::query("UPDATE projector_offsets SET next_offset = 0 WHERE projector = 'billing'")
        .execute(&pool)
        .await
        .unwrap();
    let rebuild = ProjectorConfig {
        group_id: topics.group("billing-rebuild"),
        ..billing_config(&topics, &db)
    };
    let running = Running::start(vec![rebuild]);
    wait_offsets(&topics, &pool, "billing", &["price-books", "tenants"]).await;
    running.stop().await;
    assert_eq!(billing_state(&pool, &companies).await, before);

    pool.close().await;
    db.drop_db().await;
    topics.delete().await;
}
