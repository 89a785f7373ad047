//! A price change is an event: usage is priced by the published price book in effect, and says
//! which version priced it.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use trestle_events::{AiRequestKind, Event, Meta, PriceBookPublished};
use trestle_kafka::EventProducer;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{ask, config, publish_all, read_events, start_sim, Engine};

fn price_book(version: i32, effective_from: DateTime<Utc>, flash_unit: i64) -> Event {
    Event::PriceBookPublished(PriceBookPublished {
        meta: Meta::platform(),
        version,
        effective_from,
        starter_price_micro_usd: 99_000_000,
        professional_price_micro_usd: 199_000_000,
        premium_price_micro_usd: 349_000_000,
        enterprise_price_micro_usd: 999_000_000,
        starter_included_ai_cost_micro_usd: 20_000_000,
        professional_included_ai_cost_micro_usd: 50_000_000,
        premium_included_ai_cost_micro_usd: 80_000_000,
        enterprise_included_ai_cost_micro_usd: 150_000_000,
        overage_markup_bp: 5_000,
        notebooklm_queries_unit_micro_usd: 5_000,
        gemini_flash_queries_unit_micro_usd: flash_unit,
        gemini_pro_queries_unit_micro_usd: 2_000,
        document_pages_unit_micro_usd: 20_000,
        vision_images_unit_micro_usd: 1_500,
        speech_minutes_unit_micro_usd: 16_000,
        tts_characters_unit_micro_usd: 4,
        embedding_tokens_unit_micro_usd: 1,
        note: "test".into(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_is_priced_by_the_published_price_book_in_effect_and_names_its_version() {
    let topics = TestTopics::create("engine_pricing", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let now = Utc::now();
    let this_month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .unwrap();
    // Version 2 is in effect this month; version 3 only from next year, so not yet.
    producer
        .publish(&price_book(2, this_month, 300))
        .await
        .unwrap();
    let next_year = Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0).unwrap();
    producer
        .publish(&price_book(3, next_year, 900))
        .await
        .unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let chat = ask(
        Uuid::now_v7(),
        AiRequestKind::Chat,
        "What is due today?",
        None,
    );
    publish_all(&producer, std::slice::from_ref(&chat)).await;
    let engine = Engine::start(config(&topics, &sim));

    let usage = read_events(&topics, "usage", 1).await;
    let Event::UsageRecorded(u) = &usage[0] else {
        panic!("expected usage")
    };
    assert_eq!((u.price_book_version, u.cost_micro_usd), (2, 300));
    let outcomes = read_events(&topics, "ai-outcomes", 1).await;
    let Event::AiRequestCompleted(c) = &outcomes[0] else {
        panic!("expected a completion")
    };
    assert_eq!(c.cost_micro_usd, 300);
    engine.stop().await;
    topics.delete().await;
}
