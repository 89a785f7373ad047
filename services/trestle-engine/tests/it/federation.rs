//! Cloud-project federation: a project in maintenance sends its shared companies' calls to
//! another active project of their region, with an `AiRequestRerouted` each; a dedicated
//! company goes only to a spare project of its own, else gets the limited answer; a project at
//! its daily provider quota fails over the same way, and when every project of the region is at
//! its quota the request is throttled naming the quota (`provider_quota`).

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_engine::EngineConfig;
use trestle_events::{
    AiRequestKind, AiRequestSubmitted, CloudProjectMaintenanceSet, CloudProjectRegistered,
    CompanyRegistered, Event, IsolationLevel, Meta, Region, RerouteReason, TenantProvisioned,
    ThrottleReason, Tier,
};
use trestle_kafka::EventProducer;
use trestle_testkit::TestTopics;
use uuid::Uuid;

use crate::support::{ask, config, provider_calls, read_until, start_sim, Engine};

fn project(id: &str, region: Region, dedicated_to: Option<Uuid>) -> Event {
    Event::CloudProjectRegistered(CloudProjectRegistered {
        meta: Meta::platform(),
        cloud_project_id: id.into(),
        region,
        notebook_limit: 50_000,
        dedicated_company_id: dedicated_to,
    })
}

fn maintenance(id: &str, on: bool) -> Event {
    Event::CloudProjectMaintenanceSet(CloudProjectMaintenanceSet {
        meta: Meta::platform(),
        cloud_project_id: id.into(),
        maintenance: on,
    })
}

/// An EU company registered and provisioned to `project`.
async fn onboard(producer: &EventProducer, project: &str, isolation: IsolationLevel) -> Uuid {
    let company = Uuid::now_v7();
    let registered = Event::CompanyRegistered(CompanyRegistered {
        meta: Meta::root(company),
        name: format!("Bau {company}"),
        tier: Tier::Enterprise,
        country: "DE".into(),
        region: Region::Eu,
        isolation,
    });
    let provisioned = Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Eu,
        database_shard: 0,
        cloud_project_id: project.into(),
        isolation_level: isolation,
        kb_notebook_id: String::new(),
    });
    producer.publish(&registered).await.unwrap();
    producer.publish(&provisioned).await.unwrap();
    company
}

fn refusing(topics: &TestTopics, sim: &str) -> EngineConfig {
    let mut config = config(topics, sim);
    config.unprovisioned = trestle_engine::Unprovisioned::Refuse;
    config
}

/// The events of ai-outcomes that concern `request`.
fn of(events: &[Event], request: &AiRequestSubmitted) -> Vec<Event> {
    let id = request.request_id;
    let concerns = |e: &&Event| match e {
        Event::AiRequestCompleted(c) => c.request_id == id,
        Event::AiRequestFailed(f) => f.request_id == id,
        Event::AiRequestThrottled(t) => t.request_id == id,
        Event::AiRequestServedFromCache(c) => c.request_id == id,
        Event::AiRequestRerouted(r) => r.request_id == id,
        _ => false,
    };
    events.iter().filter(concerns).cloned().collect()
}

fn is_outcome(e: &Event) -> bool {
    !matches!(e, Event::AiRequestRerouted(_))
}

/// Reads ai-outcomes until `n` outcomes (reroutes not counted) are there.
async fn outcomes(topics: &TestTopics, n: usize) -> Vec<Event> {
    read_until(topics, "ai-outcomes", Duration::from_secs(60), |events| {
        events.iter().filter(|e| is_outcome(e)).count() >= n
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_in_maintenance_sends_shared_calls_to_a_spare_of_the_region_and_dedicated_ones_only_to_their_own(
) {
    let topics = TestTopics::create("engine_federation", 2).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    let (lonely, spared) = (Uuid::now_v7(), Uuid::now_v7());
    for event in [
        project("eu-a", Region::Eu, None),
        project("eu-b", Region::Eu, None),
        project("us-a", Region::Us, None),
        project("own-lonely", Region::Eu, Some(lonely)),
        project("own-spared", Region::Eu, Some(spared)),
        project("own-spared-2", Region::Eu, Some(spared)),
        maintenance("eu-a", true),
        maintenance("own-lonely", true),
        maintenance("own-spared", true),
    ] {
        producer.publish(&event).await.unwrap();
    }
    let shared: Vec<Uuid> = futures::future::join_all(
        (0..4).map(|_| onboard(&producer, "eu-a", IsolationLevel::Shared)),
    )
    .await;
    let lonely = onboard_as(&producer, lonely, "own-lonely").await;
    let spared = onboard_as(&producer, spared, "own-spared").await;
    let _engine = Engine::start(refusing(&topics, &sim));

    let asks: Vec<AiRequestSubmitted> = shared
        .iter()
        .chain([&lonely, &spared])
        .map(|&c| ask(c, AiRequestKind::Chat, "Which RFIs are open?", None))
        .collect();
    for a in &asks {
        producer
            .publish(&Event::AiRequestSubmitted(a.clone()))
            .await
            .unwrap();
    }
    let events = outcomes(&topics, asks.len()).await;

    for a in &asks[..4] {
        let [Event::AiRequestRerouted(r), Event::AiRequestCompleted(c)] = &of(&events, a)[..]
        else {
            panic!("expected a reroute then the answer: {:?}", of(&events, a));
        };
        assert_eq!(
            (
                r.from_cloud_project_id.as_str(),
                r.to_cloud_project_id.as_str(),
                r.reason
            ),
            ("eu-a", "eu-b", RerouteReason::Maintenance),
            "the only active shared project of the region, never us-a nor a dedicated one"
        );
        assert_eq!(c.cloud_project_id.as_deref(), Some("eu-b"));
    }
    let lonely_outcome = of(&events, &asks[4]);
    let [Event::AiRequestFailed(f)] = &lonely_outcome[..] else {
        panic!("a dedicated company without a spare gets the limited answer: {lonely_outcome:?}");
    };
    assert!(f.reason.contains("AI temporarily limited"), "{}", f.reason);
    assert!(
        f.reason.contains("own-lonely in maintenance"),
        "{}",
        f.reason
    );
    assert!(f.retryable);
    let [Event::AiRequestRerouted(r), Event::AiRequestCompleted(c)] = &of(&events, &asks[5])[..]
    else {
        panic!("expected the dedicated spare: {:?}", of(&events, &asks[5]));
    };
    assert_eq!(r.to_cloud_project_id, "own-spared-2");
    assert_eq!(c.cloud_project_id.as_deref(), Some("own-spared-2"));
    assert_eq!(
        provider_calls(&sim).await.values().sum::<u64>(),
        5,
        "the dedicated company without a spare made no call"
    );

    // Maintenance over: calls go home again, with no reroute (once the engine has read it).
    producer.publish(&maintenance("eu-a", false)).await.unwrap();
    let company = shared[0];
    let mut sent = Vec::new();
    let home = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let a = ask(company, AiRequestKind::Chat, "Any open punch items?", None);
            producer
                .publish(&Event::AiRequestSubmitted(a.clone()))
                .await
                .unwrap();
            sent.push(a.clone());
            let events = outcomes(&topics, asks.len() + sent.len()).await;
            if let [Event::AiRequestCompleted(c)] = &of(&events, &a)[..] {
                if c.cloud_project_id.as_deref() == Some("eu-a") {
                    return c.clone();
                }
            }
        }
    })
    .await
    .expect("calls go to eu-a again once its maintenance is over");
    assert_eq!(home.cloud_project_id.as_deref(), Some("eu-a"));
    topics.delete().await;
}

/// `company` registered as dedicated and provisioned to its own `project`.
async fn onboard_as(producer: &EventProducer, company: Uuid, project: &str) -> Uuid {
    let registered = Event::CompanyRegistered(CompanyRegistered {
        meta: Meta::root(company),
        name: format!("Dedicated {company}"),
        tier: Tier::Enterprise,
        country: "DE".into(),
        region: Region::Eu,
        isolation: IsolationLevel::Dedicated,
    });
    let provisioned = Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Eu,
        database_shard: 1,
        cloud_project_id: project.into(),
        isolation_level: IsolationLevel::Dedicated,
        kb_notebook_id: String::new(),
    });
    producer.publish(&registered).await.unwrap();
    producer.publish(&provisioned).await.unwrap();
    company
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_at_its_daily_quota_fails_over_and_then_the_request_is_throttled_naming_the_quota(
) {
    let topics = TestTopics::create("engine_quota", 2).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let sim = start_sim(BTreeMap::new()).await;
    producer
        .publish(&project("eu-a", Region::Eu, None))
        .await
        .unwrap();
    producer
        .publish(&project("eu-b", Region::Eu, None))
        .await
        .unwrap();
    let company = onboard(&producer, "eu-a", IsolationLevel::Shared).await;
    let mut config = refusing(&topics, &sim);
    // Gemini: 2 calls per project per day; OpenAI (the chat chain's second step): none.
    config.quotas.requests_per_day = [("gemini".to_string(), 2), ("openai".to_string(), 0)]
        .into_iter()
        .collect();
    let counters =
        trestle_quota::Quotas::new(config.redis.connect().await.unwrap(), config.quotas.clone());
    let _engine = Engine::start(config);

    let asks: Vec<AiRequestSubmitted> = (0..6)
        .map(|i| {
            ask(
                company,
                AiRequestKind::Chat,
                &format!("Daily report {i}?"),
                None,
            )
        })
        .collect();
    crate::support::publish_all(&producer, &asks).await;
    let events = outcomes(&topics, asks.len()).await;

    let mut at = BTreeMap::<String, usize>::new();
    let mut rerouted = 0;
    let mut throttled = Vec::new();
    for a in &asks {
        for e in of(&events, a) {
            match e {
                Event::AiRequestCompleted(c) => {
                    assert_eq!(c.provider, "gemini");
                    *at.entry(c.cloud_project_id.unwrap()).or_default() += 1;
                }
                Event::AiRequestRerouted(r) => {
                    assert_eq!(
                        (r.to_cloud_project_id.as_str(), r.reason),
                        ("eu-b", RerouteReason::QuotaExhausted)
                    );
                    rerouted += 1;
                }
                Event::AiRequestThrottled(t) => throttled.push(t),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(
        at,
        [("eu-a".to_string(), 2), ("eu-b".to_string(), 2)].into(),
        "each project answers its quota"
    );
    assert_eq!(rerouted, 2);
    assert_eq!(throttled.len(), 2, "the rest is throttled");
    for t in throttled {
        assert_eq!(t.reason, ThrottleReason::ProviderQuota);
        assert!(
            t.limit.starts_with("daily provider quotas reached: gemini"),
            "{}",
            t.limit
        );
        assert!(
            t.limit.contains("eu-b: daily quota of 2 requests used up"),
            "{}",
            t.limit
        );
        let retry = t.retry_after_ms.expect("retry at the next UTC day");
        assert!((0..=86_400_000).contains(&retry), "{retry}");
    }
    let calls = provider_calls(&sim).await;
    assert_eq!(calls.get("gemini"), Some(&4));
    assert_eq!(
        calls.get("openai"),
        None,
        "a quota of 0 lets no call through"
    );
    // The live counters count what was answered: what the pool projection counts.
    let today = chrono::Utc::now().date_naive();
    for project in ["eu-a", "eu-b"] {
        let used = counters.used(project, "gemini", today).await.unwrap();
        assert_eq!(used, 2, "{project}");
    }
    topics.delete().await;
}
