//! Topics as declared in `topics.toml`, and bringing a broker in line with them.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;

use crate::{Error, KafkaOptions};

/// `topics.toml` of this checkout, compiled in so services and tests agree on it.
pub const TOPICS_TOML: &str = include_str!("../../../topics.toml");

/// One topic of `topics.toml`, with the defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Logical name; the physical name is `topic_prefix + name`.
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// `delete` or `compact`.
    pub cleanup_policy: String,
    /// `-1` keeps records forever.
    pub retention_ms: i64,
    /// What the record key is (documentation).
    pub key: String,
    /// The Avro schemas a value may have.
    pub values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    defaults: Defaults,
    topic: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    replication_factor: i32,
    partitions: i32,
    cleanup_policy: String,
    retention_ms: i64,
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i32>,
    cleanup_policy: Option<String>,
    retention_ms: Option<i64>,
    key: Option<String>,
    values: Vec<String>,
}

/// Parses a `topics.toml` text.
pub fn parse(text: &str) -> Result<Vec<TopicSpec>, Error> {
    let file: File = toml::from_str(text).map_err(|e| Error::TopicsSpec(e.to_string()))?;
    let d = file.defaults;
    file.topic
        .into_iter()
        .map(|t| {
            let spec = TopicSpec {
                partitions: t.partitions.unwrap_or(d.partitions),
                replication_factor: t.replication_factor.unwrap_or(d.replication_factor),
                cleanup_policy: t.cleanup_policy.unwrap_or_else(|| d.cleanup_policy.clone()),
                retention_ms: t.retention_ms.unwrap_or(d.retention_ms),
                key: t.key.unwrap_or_else(|| d.key.clone()),
                values: t.values,
                name: t.name,
            };
            if spec.partitions < 1 {
                return Err(Error::TopicsSpec(format!(
                    "topic {} must have at least one partition",
                    spec.name
                )));
            }
            Ok(spec)
        })
        .collect()
}

/// The topics compiled into this build.
pub fn builtin() -> Vec<TopicSpec> {
    parse(TOPICS_TOML).expect("topics.toml of this checkout parses (checked by tests)")
}

/// What [`apply`] did to each topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created {
        partitions: i32,
    },
    PartitionsAdded {
        from: i32,
        to: i32,
    },
    Unchanged {
        partitions: i32,
    },
    /// Kafka cannot remove partitions; the file asks for fewer than the broker has.
    CannotShrink {
        broker: i32,
        file: i32,
    },
}

/// Creates missing topics, adds partitions where the file asks for more, and sets retention
/// and cleanup policy, for every spec under `options.topic_prefix`. Safe to run repeatedly.
pub async fn apply(
    options: &KafkaOptions,
    specs: &[TopicSpec],
) -> Result<Vec<(String, Change)>, Error> {
    let admin: AdminClient<DefaultClientContext> =
        options
            .client_config()
            .create()
            .map_err(|source| Error::Client {
                role: "admin",
                bootstrap: options.bootstrap_servers.clone(),
                source,
            })?;
    let existing = partition_counts(&admin)?;
    let admin_opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut changes = Vec::new();

    let mut to_create = Vec::new();
    for spec in specs {
        let name = options.topic(&spec.name);
        match existing.get(&name) {
            None => to_create.push((name, spec)),
            Some(&have) if have < spec.partitions => {
                let new = NewPartitions::new(&name, spec.partitions as usize);
                check(
                    &name,
                    "create partitions",
                    admin.create_partitions([&new], &admin_opts).await,
                )?;
                changes.push((
                    name,
                    Change::PartitionsAdded {
                        from: have,
                        to: spec.partitions,
                    },
                ));
            }
            Some(&have) if have > spec.partitions => changes.push((
                name,
                Change::CannotShrink {
                    broker: have,
                    file: spec.partitions,
                },
            )),
            Some(&have) => changes.push((name, Change::Unchanged { partitions: have })),
        }
    }

    create_topics(&admin, &admin_opts, &to_create).await?;
    changes.extend(to_create.iter().map(|(name, spec)| {
        let partitions = spec.partitions;
        (name.clone(), Change::Created { partitions })
    }));
    // Configs of topics that already existed: bring retention and cleanup policy in line.
    for spec in specs {
        let name = options.topic(&spec.name);
        if !to_create.iter().any(|(n, _)| *n == name) {
            align_config(&admin, &admin_opts, &name, spec).await?;
        }
    }
    wait_until_visible(&admin, options, specs).await?;
    Ok(changes)
}

type Admin = AdminClient<DefaultClientContext>;

/// Creates the missing topics in one request, with their retention and cleanup policy; a topic
/// someone else created meanwhile counts as created.
async fn create_topics(
    admin: &Admin,
    admin_opts: &AdminOptions,
    to_create: &[(String, &TopicSpec)],
) -> Result<(), Error> {
    let retention: Vec<String> = to_create
        .iter()
        .map(|(_, s)| s.retention_ms.to_string())
        .collect();
    let new_topics: Vec<NewTopic<'_>> = to_create
        .iter()
        .zip(&retention)
        .map(|((name, spec), retention)| {
            NewTopic::new(
                name,
                spec.partitions,
                TopicReplication::Fixed(spec.replication_factor),
            )
            .set("cleanup.policy", &spec.cleanup_policy)
            .set("retention.ms", retention)
        })
        .collect();
    if new_topics.is_empty() {
        return Ok(());
    }
    let results = admin
        .create_topics(&new_topics, admin_opts)
        .await
        .map_err(|e| Error::Admin {
            operation: "create topics",
            topic: to_create
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(","),
            message: e.to_string(),
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::Admin {
                    operation: "create topic",
                    topic,
                    message: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Sets an existing topic's retention and cleanup policy to the file's.
async fn align_config(
    admin: &Admin,
    admin_opts: &AdminOptions,
    name: &str,
    spec: &TopicSpec,
) -> Result<(), Error> {
    let retention = spec.retention_ms.to_string();
    let alter = AlterConfig::new(ResourceSpecifier::Topic(name))
        .set("cleanup.policy", &spec.cleanup_policy)
        .set("retention.ms", &retention);
    let failed = |message: String| Error::Admin {
        operation: "alter configs",
        topic: name.to_owned(),
        message,
    };
    let results = admin
        .alter_configs([&alter], admin_opts)
        .await
        .map_err(|e| failed(e.to_string()))?;
    for r in results {
        if let Err((_, code)) = r {
            return Err(failed(code.to_string()));
        }
    }
    Ok(())
}

/// Waits until the broker's metadata shows every topic with at least its partitions, so a
/// client started right after `apply` finds them.
async fn wait_until_visible(
    admin: &AdminClient<DefaultClientContext>,
    options: &KafkaOptions,
    specs: &[TopicSpec],
) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts = partition_counts(admin)?;
        let missing = specs
            .iter()
            .find(|s| counts.get(&options.topic(&s.name)).copied().unwrap_or(0) < s.partitions);
        match missing {
            None => return Ok(()),
            Some(spec) if std::time::Instant::now() > deadline => {
                return Err(Error::Admin {
                    operation: "wait for metadata",
                    topic: options.topic(&spec.name),
                    message: "the broker did not show the topic's partitions within 30 s".into(),
                })
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Deletes every topic of `specs` under the options' prefix (tests clean up with this).
pub async fn delete(options: &KafkaOptions, specs: &[TopicSpec]) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> =
        options
            .client_config()
            .create()
            .map_err(|source| Error::Client {
                role: "admin",
                bootstrap: options.bootstrap_servers.clone(),
                source,
            })?;
    let names: Vec<String> = specs.iter().map(|s| options.topic(&s.name)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    admin
        .delete_topics(&refs, &AdminOptions::new())
        .await
        .map_err(|e| Error::Admin {
            operation: "delete topics",
            topic: names.join(","),
            message: e.to_string(),
        })?;
    Ok(())
}

fn partition_counts(
    admin: &AdminClient<DefaultClientContext>,
) -> Result<HashMap<String, i32>, Error> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(15))
        .map_err(|e| Error::Admin {
            operation: "fetch metadata",
            topic: "*".into(),
            message: format!("{e} (is Kafka up? run `compose/stack up`)"),
        })?;
    Ok(metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

fn check(
    topic: &str,
    operation: &'static str,
    result: rdkafka::error::KafkaResult<Vec<rdkafka::admin::TopicResult>>,
) -> Result<(), Error> {
    let results = result.map_err(|e| Error::Admin {
        operation,
        topic: topic.to_string(),
        message: e.to_string(),
    })?;
    for r in results {
        if let Err((_, code)) = r {
            return Err(Error::Admin {
                operation,
                topic: topic.to_string(),
                message: code.to_string(),
            });
        }
    }
    Ok(())
}
