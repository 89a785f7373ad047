//! Invariant 5 and 6 over real Kafka and Redis: exact per-tier rate limits shared by two
//! engine instances, the ladder's steps in order, and the all-down fallback to the cache.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use trestle_events::{AiRequestKind, Event, ThrottleReason, Tier};
use trestle_kafka::EventProducer;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{
    ask, by_request, config, down, publish_all, read_events, register, set_provider, start_sim,
    Engine,
};

#[tokio::test(flavor = "multi_thread")]
async fn over_the_rate_limit_the_ladder_serves_cache_then_degrades_then_throttles() {
    let topics = TestTopics::create("engine_ladder", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let company = Uuid::now_v7(); // not registered: a starter, 10 rpm with a burst of 2
                                  // One ordering key, so they are decided one after the other in log order.
    let summary = |prompt: &str| ask(company, AiRequestKind::Summary, prompt, Some("k"));
    let requests = vec![
        summary("A"), // within the burst: answered, and cached
        summary("B"), // within the burst: answered
        summary("A"), // over: the queue overflows (no waiting allowed), A is cached
        summary("C"), // over, not cached: degraded to Gemini Flash (allowance 5 rpm, burst 1)
        summary("D"), // over, not cached, allowance spent: throttled
    ];
    publish_all(&producer, &requests).await;
    let mut config = config(&topics, &sim);
    config.ladder.enabled = true;
    config.ladder.max_queue_wait_ms = 0;
    let engine = Engine::start(config);

    let outcomes = by_request(read_events(&topics, "ai-outcomes", 5).await);
    let outcome = |i: usize| &outcomes[&requests[i].request_id];
    for i in [0, 1] {
        let Event::AiRequestCompleted(c) = outcome(i) else {
            panic!("request {i}: {}", outcome(i).name())
        };
        assert_eq!((c.model.as_str(), c.degraded), ("gemini-pro", false));
    }
    let Event::AiRequestServedFromCache(cached) = outcome(2) else {
        panic!(
            "request 2 should come from the cache: {}",
            outcome(2).name()
        )
    };
    assert!(!cached.limited_notice);
    let Event::AiRequestCompleted(degraded) = outcome(3) else {
        panic!("request 3 should be degraded: {}", outcome(3).name())
    };
    assert_eq!(
        (degraded.model.as_str(), degraded.degraded),
        ("gemini-flash", true)
    );
    let Event::AiRequestThrottled(throttled) = outcome(4) else {
        panic!("request 4 should be throttled: {}", outcome(4).name())
    };
    assert_eq!(throttled.reason, ThrottleReason::RateLimit);
    assert_eq!(throttled.limit, "10 rpm (starter)");
    assert!(throttled
        .retry_after_ms
        .is_some_and(|ms| ms > 0 && ms <= 6_000));
    // Usage only for what a provider answered: two full-price answers and one degraded.
    let usage = read_events(&topics, "usage", 3).await;
    assert_eq!(usage.len(), 3);
    engine.stop().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_provider_down_the_cached_answer_is_served_marked_limited() {
    let topics = TestTopics::create("engine_all_down", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let company = Uuid::now_v7();
    let first = ask(
        company,
        AiRequestKind::Chat,
        "What is due on site today?",
        None,
    );
    publish_all(&producer, std::slice::from_ref(&first)).await;
    let engine = Engine::start(config(&topics, &sim));
    read_events(&topics, "ai-outcomes", 1).await;

    set_provider(&sim, "gemini", down()).await;
    set_provider(&sim, "openai", down()).await;
    let again = ask(
        company,
        AiRequestKind::Chat,
        "What is due on site today?",
        None,
    );
    let new = ask(company, AiRequestKind::Chat, "Who signed the permit?", None);
    let other_company = ask(
        Uuid::now_v7(),
        AiRequestKind::Chat,
        "What is due on site today?",
        None,
    );
    publish_all(
        &producer,
        &[again.clone(), new.clone(), other_company.clone()],
    )
    .await;

    let outcomes = by_request(read_events(&topics, "ai-outcomes", 4).await);
    let Event::AiRequestServedFromCache(cached) = &outcomes[&again.request_id] else {
        panic!(
            "expected the cached answer: {}",
            outcomes[&again.request_id].name()
        )
    };
    assert!(cached.limited_notice, "marked \"AI temporarily limited\"");
    let Event::AiRequestCompleted(original) = &outcomes[&first.request_id] else {
        panic!("the first request was answered by a provider")
    };
    assert_eq!(cached.answer, original.answer);
    for id in [new.request_id, other_company.request_id] {
        let Event::AiRequestFailed(failed) = &outcomes[&id] else {
            panic!(
                "no cached answer: expected a failure, got {}",
                outcomes[&id].name()
            )
        };
        assert!(
            failed.reason.contains("AI temporarily limited"),
            "{}",
            failed.reason
        );
    }
    engine.stop().await;
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_monthly_cost_limit_a_request_is_throttled_naming_the_limit() {
    let topics = TestTopics::create("engine_cost_limit", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let company = Uuid::now_v7();
    // A Gemini Pro summary costs $0.002: a $0.005 contract pays for two.
    let mut config = config(&topics, &sim);
    config.cost_limits.overrides.insert(
        company,
        trestle_engine::LimitOverride {
            queries_per_month: None,
            cost_micro_usd_per_month: Some(5_000),
        },
    );
    let requests: Vec<_> = (0..3)
        .map(|i| {
            ask(
                company,
                AiRequestKind::Summary,
                &format!("report {i}"),
                Some("k"),
            )
        })
        .collect();
    publish_all(&producer, &requests).await;
    let engine = Engine::start(config);

    let outcomes = by_request(read_events(&topics, "ai-outcomes", 3).await);
    for r in &requests[..2] {
        assert!(matches!(
            outcomes[&r.request_id],
            Event::AiRequestCompleted(_)
        ));
    }
    let Event::AiRequestThrottled(throttled) = &outcomes[&requests[2].request_id] else {
        panic!(
            "the third is over the limit: {}",
            outcomes[&requests[2].request_id].name()
        )
    };
    assert_eq!(throttled.reason, ThrottleReason::CostLimit);
    assert!(
        throttled.limit.contains("monthly AI cost limit"),
        "{}",
        throttled.limit
    );
    assert!(
        throttled.retry_after_ms.is_some_and(|ms| ms > 0),
        "retry next month"
    );
    assert_eq!(
        read_events(&topics, "usage", 2).await.len(),
        2,
        "nothing billed beyond"
    );
    engine.stop().await;
    topics.delete().await;
}

/// Waits until the engine group is stable with `members` members.
async fn wait_for_group(topics: &TestTopics, members: usize) {
    let consumer: BaseConsumer = topics
        .options
        .consumer_config(&topics.group("observer"))
        .create()
        .unwrap();
    let group = topics.group("engine");
    trestle_testkit::wait_for(
        "both engines in the group",
        Duration::from_secs(60),
        || async {
            let list = consumer
                .fetch_group_list(Some(&group), Duration::from_secs(5))
                .ok()?;
            let g = list.groups().first()?;
            (g.state() == "Stable" && g.members().len() == members).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_exact_per_tier_across_two_engine_instances() {
    let topics = TestTopics::create("engine_limits", 4).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let tiers = [
        (Tier::Starter, 10u32),
        (Tier::Professional, 30),
        (Tier::Premium, 60),
        (Tier::Enterprise, 120),
    ];
    let mut companies = Vec::new();
    for (tier, rpm) in tiers {
        for _ in 0..2 {
            let company = Uuid::now_v7();
            register(&producer, company, tier).await;
            companies.push((company, rpm));
        }
    }
    let mut base = config(&topics, &sim);
    base.ladder.enabled = true;
    base.ladder.max_queue_wait_ms = 0;
    base.ladder.degrade_fraction = 0.0;
    base.cache.enabled = false;
    // A burst of a full minute's worth, so each company gets exactly its rpm at once.
    base.rate_limit.burst_fraction = 1.0;
    let mut a = base.clone();
    a.default_cloud_project = "served-by-a".into();
    let mut b = base;
    b.default_cloud_project = "served-by-b".into();
    let engine_a = Engine::start(a);
    let engine_b = Engine::start(b);
    wait_for_group(&topics, 2).await;

    let started = Instant::now();
    let mut requests = Vec::new();
    for &(company, rpm) in &companies {
        for i in 0..rpm + 5 {
            requests.push(ask(company, AiRequestKind::Chat, &format!("q{i}"), None));
        }
    }
    publish_all(&producer, &requests).await;
    let outcomes = by_request(read_events(&topics, "ai-outcomes", requests.len()).await);
    let elapsed_s = started.elapsed().as_secs_f64();
    assert_eq!(outcomes.len(), requests.len(), "one outcome per request");

    let mut served_by = BTreeSet::new();
    for &(company, rpm) in &companies {
        let (mut allowed, mut throttled) = (0u32, 0u32);
        for e in outcomes.values().filter(|e| e.meta().company_id == company) {
            match e {
                Event::AiRequestCompleted(c) => {
                    allowed += 1;
                    served_by.extend(c.cloud_project_id.clone());
                }
                Event::AiRequestThrottled(_) => throttled += 1,
                other => panic!("unexpected {}", other.name()),
            }
        }
        // GCRA: the burst at once, then one more per 60/rpm seconds of the run.
        let most = rpm + (elapsed_s * f64::from(rpm) / 60.0).ceil() as u32;
        assert!(
            (rpm..=most).contains(&allowed),
            "{rpm} rpm company: {allowed} allowed, expected {rpm}..={most} in {elapsed_s:.1} s"
        );
        assert_eq!(allowed + throttled, rpm + 5);
    }
    assert_eq!(
        served_by,
        BTreeSet::from(["served-by-a".to_string(), "served-by-b".to_string()]),
        "both instances served requests"
    );
    engine_a.stop().await;
    engine_b.stop().await;
    topics.delete().await;
}
