//! What the engine tests share: the provider simulator, an engine in-process with its own
//! topics and Redis keys, registered companies, requests, and reading outcomes back.

use std::collections::BTreeMap;
use std::time::Duration;

use trestle_engine::EngineConfig;
use trestle_events::{
    AiRequestKind, AiRequestSubmitted, CompanyRegistered, Event, Meta, Region, Tier,
};
use trestle_kafka::EventProducer;
use trestle_provider_sim::{Behaviour, SimConfig};
use trestle_testkit::{read_topic, unique, TestTopics};
use uuid::Uuid;

/// Starts a provider simulator (5 ± 5 ms per call unless told otherwise); returns its URL.
pub(crate) async fn start_sim(providers: BTreeMap<String, Behaviour>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = SimConfig {
        default: Behaviour {
            latency_ms: 5,
            jitter_ms: 5,
            ..Behaviour::default()
        },
        providers,
        ..SimConfig::default()
    };
    tokio::spawn(async move {
        trestle_provider_sim::serve(listener, &config, std::future::pending()).await
    });
    format!("http://{addr}")
}

/// Changes a provider's behaviour at run time, over the simulator's admin API.
pub(crate) async fn set_provider(sim: &str, provider: &str, behaviour: Behaviour) {
    reqwest::Client::new()
        .put(format!("{sim}/admin/providers/{provider}"))
        .json(&behaviour)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

/// Calls each provider has received so far.
pub(crate) async fn provider_calls(sim: &str) -> BTreeMap<String, u64> {
    reqwest::get(format!("{sim}/admin/calls"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A behaviour with no latency that answers 503.
pub(crate) fn down() -> Behaviour {
    Behaviour {
        down: true,
        latency_ms: 0,
        jitter_ms: 0,
        ..Behaviour::default()
    }
}

/// An engine on the test's topics with its own Redis keys: no rate limit (tests of the ladder
/// turn it on), one provider attempt per step, quick commits.
pub(crate) fn config(topics: &TestTopics, sim: &str) -> EngineConfig {
    let mut config = EngineConfig {
        kafka: topics.options.clone(),
        group_id: topics.group("engine"),
        commit_interval_ms: 20,
        // These tests are about serving; their companies are not onboarded. The refusal of
        // companies that are not provisioned has its own test (onboarded.rs).
        unprovisioned: trestle_engine::Unprovisioned::ServeAsStarter,
        ..EngineConfig::default()
    };
    let prefix = format!("{}:", unique("engine"));
    config.ladder.enabled = false;
    config.redis.redis_url = trestle_testkit::redis_url();
    config.redis.key_prefix = prefix;
    config.provider.base_url = sim.to_owned();
    config.provider.retry_initial_ms = 5;
    config.provider.max_attempts = 1;
    config
}

/// An engine running in this process; stops gracefully when dropped.
pub(crate) struct Engine {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), trestle_engine::Error>>>,
}

impl Engine {
    pub(crate) fn start(config: EngineConfig) -> Engine {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(trestle_engine::run(config, async {
            let _ = stopped.await;
        }));
        Engine {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops it like a crash: no drain, no final commit.
    pub(crate) async fn crash(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops it gracefully and waits until it has.
    pub(crate) async fn stop(mut self) {
        drop(self.stop.take());
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Registers `company` with `tier` on the tenants topic.
pub(crate) async fn register(producer: &EventProducer, company: Uuid, tier: Tier) {
    producer
        .publish(&Event::CompanyRegistered(CompanyRegistered {
            meta: Meta::root(company),
            name: format!("company {company}"),
            tier,
            country: "US".into(),
            region: Region::Us,
            isolation: trestle_events::IsolationLevel::Shared,
        }))
        .await
        .unwrap();
}

/// A submitted request.
pub(crate) fn ask(
    company: Uuid,
    kind: AiRequestKind,
    prompt: &str,
    ordering_key: Option<&str>,
) -> AiRequestSubmitted {
    AiRequestSubmitted {
        meta: Meta::root(company),
        request_id: Uuid::now_v7(),
        user_id: "u-1".into(),
        kind,
        prompt: prompt.into(),
        ordering_key: ordering_key.map(str::to_owned),
        job_id: None,
        submitted_via: "test".into(),
        document_ids: vec![],
    }
}

/// A submitted request, as an event.
pub(crate) fn request(company: Uuid, kind: AiRequestKind) -> Event {
    Event::AiRequestSubmitted(ask(company, kind, "Summarise today's site diary", None))
}

/// Publishes requests in order, each acknowledged before the next is sent.
pub(crate) async fn publish_all(producer: &EventProducer, requests: &[AiRequestSubmitted]) {
    let events: Vec<Event> = requests
        .iter()
        .cloned()
        .map(Event::AiRequestSubmitted)
        .collect();
    trestle_testkit::fixtures::publish_in_order(producer, &events).await;
}

pub(crate) fn decode_all(records: &[trestle_testkit::ReadRecord]) -> Vec<Event> {
    records
        .iter()
        .map(|r| trestle_events::decode(r.payload.as_deref().unwrap()).unwrap())
        .collect()
}

/// Reads `n` events (and any extra within a second) of a logical topic.
pub(crate) async fn read_events(topics: &TestTopics, logical: &str, n: usize) -> Vec<Event> {
    decode_all(
        &read_topic(
            &topics.options,
            &topics.topic(logical),
            n,
            Duration::from_secs(90),
        )
        .await,
    )
}

/// The request an outcome or usage event answers.
pub(crate) fn request_id(e: &Event) -> Uuid {
    match e {
        Event::AiRequestCompleted(c) => c.request_id,
        Event::AiRequestFailed(f) => f.request_id,
        Event::AiRequestThrottled(t) => t.request_id,
        Event::AiRequestServedFromCache(c) => c.request_id,
        Event::UsageRecorded(u) => u.request_id,
        other => panic!("unexpected {}", other.name()),
    }
}

/// Outcomes by the request they answer; panics on a duplicate.
pub(crate) fn by_request(outcomes: Vec<Event>) -> BTreeMap<Uuid, Event> {
    let mut map = BTreeMap::new();
    for e in outcomes {
        let id = request_id(&e);
        assert!(map.insert(id, e).is_none(), "request {id} answered twice");
    }
    map
}

/// Reads the outcomes of `requests`, checking each is answered exactly once.
pub(crate) async fn answered_once(
    topics: &TestTopics,
    requests: &[AiRequestSubmitted],
) -> BTreeMap<Uuid, Event> {
    let outcomes = by_request(read_events(topics, "ai-outcomes", requests.len()).await);
    assert_eq!(
        outcomes.len(),
        requests.len(),
        "every request answered once"
    );
    outcomes
}

/// Reads a logical topic from the start (read_committed) until `done` holds for the events read
/// so far; panics after `timeout`.
pub(crate) async fn read_until(
    topics: &TestTopics,
    logical: &str,
    timeout: Duration,
    mut done: impl FnMut(&[Event]) -> bool,
) -> Vec<Event> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    let group = format!(
        "{}reader-{}",
        topics.options.topic_prefix,
        Uuid::new_v4().simple()
    );
    let consumer: StreamConsumer = topics.options.consumer_config(&group).create().unwrap();
    consumer.subscribe(&[&topics.topic(logical)]).unwrap();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut events = Vec::new();
    while !done(&events) {
        let message = tokio::time::timeout_at(deadline, consumer.recv()).await;
        let Ok(message) = message else {
            panic!(
                "{logical}: condition not met after {timeout:?}; read {}",
                events.len()
            );
        };
        let message = message.unwrap();
        events.push(trestle_events::decode(message.payload().unwrap()).unwrap());
    }
    trestle_kafka::consumer::close(consumer).await;
    events
}

/// The engine group's committed offset and metadata of each of the first `partitions`
/// partitions of the requests topic (`None`: nothing committed, or the fetch failed).
pub(crate) fn committed_points(topics: &TestTopics, partitions: i32) -> Vec<Option<(i64, String)>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = topics
        .options
        .consumer_config(&topics.group("engine"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(&topics.topic("ai-requests"), p);
    }
    let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(10)) else {
        return vec![None; partitions as usize];
    };
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => Some((o, e.metadata().to_owned())),
            _ => None,
        })
        .collect()
}

/// The group's committed offset and metadata of partition 0.
pub(crate) fn committed(topics: &TestTopics) -> Option<(i64, String)> {
    committed_points(topics, 1).pop().flatten()
}

/// Waits until partition 0's committed offset (the watermark) is `offset`.
pub(crate) async fn wait_for_watermark(topics: &TestTopics, offset: i64) {
    trestle_testkit::wait_for(
        "the watermark to pass every record",
        Duration::from_secs(30),
        || async { committed(topics).filter(|(o, _)| *o == offset) },
    )
    .await;
}
