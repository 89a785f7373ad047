//! Onboarding the scenario's companies the way a platform operator would: each registered
//! through the admin API (`POST /v1/companies`, which assigns its id and region), then waited
//! for until onboarding has provisioned it (`TenantProvisioned` on `tenants`) — and where each
//! tier landed, for the report.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use trestle_events::{Event, Tier};
use trestle_kafka::KafkaOptions;
use uuid::Uuid;

use crate::scenario::Scenario;

/// Countries the companies are spread over, one per region.
const COUNTRIES: [&str; 3] = ["US", "DE", "JP"];

/// Where a company was provisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub region: String,
    pub shard: i32,
    pub project: String,
    pub dedicated: bool,
}

/// Registers every company of the scenario through the admin API and replaces its id with the
/// one the API assigned. Every fifth enterprise company asks for dedicated capacity.
pub async fn register_via_api(
    admin_url: &str,
    scenario: &mut Scenario,
    tokens: &crate::Tokens,
) -> anyhow::Result<()> {
    let bearer = tokens.admin();
    let client = reqwest::Client::new();
    let url = format!("{admin_url}/v1/companies");
    let bodies: Vec<serde_json::Value> = scenario
        .companies
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut body = serde_json::json!({
                "name": format!("Construction company {i}"),
                "country": COUNTRIES[i % COUNTRIES.len()],
                "tier": c.tier.as_str(),
            });
            if c.tier == Tier::Enterprise && i % 5 == 0 {
                body["isolation"] = "dedicated".into();
            }
            body
        })
        .collect();
    let ids: Vec<anyhow::Result<Uuid>> = futures::stream::iter(bodies)
        .map(|body| {
            let (client, url, bearer) = (&client, &url, &bearer);
            async move {
                let response = client
                    .post(url)
                    .header("authorization", bearer)
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status();
                let answer: serde_json::Value = response.json().await?;
                anyhow::ensure!(
                    status.is_success(),
                    "registration refused: {status} {answer}"
                );
                let id = answer["company_id"].as_str().unwrap_or_default();
                Ok(id.parse()?)
            }
        })
        .buffered(32)
        .collect()
        .await;
    for (company, id) in scenario.companies.iter_mut().zip(ids) {
        company.id = id?;
    }
    Ok(())
}

/// Reads `tenants` from the start until every company of the scenario is provisioned; returns
/// where each landed (scenario order).
pub async fn wait_provisioned(
    kafka: &KafkaOptions,
    scenario: &Scenario,
    timeout: Duration,
) -> anyhow::Result<Vec<Placed>> {
    let index: HashMap<Uuid, usize> = scenario
        .companies
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let topic = kafka.topic("tenants");
    let consumer: StreamConsumer = kafka
        .consumer_config(&format!("trestle-load-tenants-{}", Uuid::new_v4()))
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
        tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut placed: Vec<Option<Placed>> = vec![None; scenario.companies.len()];
    let (mut have, deadline) = (0, Instant::now() + timeout);
    while have < placed.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(message) = tokio::time::timeout(left, consumer.recv()).await else {
            anyhow::bail!(
                "only {have} of {} companies provisioned after {} s: is trestle-onboarding running (see .stack/demo/onboarding.log)?",
                placed.len(),
                timeout.as_secs()
            );
        };
        let message = message?;
        let Some(Ok(Event::TenantProvisioned(p))) = message.payload().map(trestle_events::decode)
        else {
            continue;
        };
        if let Some(&i) = index.get(&p.meta.company_id) {
            if placed[i].is_none() {
                have += 1;
            }
            placed[i] = Some(Placed {
                region: p.region.as_str().to_owned(),
                shard: p.database_shard,
                project: p.cloud_project_id,
                dedicated: p.isolation_level == trestle_events::IsolationLevel::Dedicated,
            });
        }
    }
    Ok(placed.into_iter().flatten().collect())
}

/// Where each tier landed: companies per (tier, region, shard, project).
pub fn print_placement(scenario: &Scenario, placed: &[Placed]) {
    let mut counts: BTreeMap<(&str, &str, i32, &str), usize> = BTreeMap::new();
    for (company, p) in scenario.companies.iter().zip(placed) {
        let project = if p.dedicated {
            "(dedicated project)"
        } else {
            p.project.as_str()
        };
        *counts
            .entry((company.tier.as_str(), p.region.as_str(), p.shard, project))
            .or_default() += 1;
    }
    println!("\n## Where each tier landed\n");
    println!("| tier | region | shard | cloud project | companies |");
    println!("|---|---|---:|---|---:|");
    for ((tier, region, shard, project), n) in counts {
        println!("| {tier} | {region} | {shard} | {project} | {n} |");
    }
}
