//! Kafka client options shared by every service, and the librdkafka configs built from them.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// How a service reaches Kafka. Defaults match the local stack (`compose/stack up`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaOptions {
    /// Comma-separated `host:port` list of brokers.
    pub bootstrap_servers: String,
    /// Prepended to every logical topic name of `topics.toml` ("ai-requests" ->
    /// "trestle.ai-requests"). Tests use a unique prefix each so they never share topics.
    pub topic_prefix: String,
    /// Consumer group session timeout.
    pub session_timeout_ms: u32,
    /// How long a producer may batch records before sending.
    pub linger_ms: u32,
    /// Raw librdkafka properties, applied last (e.g. `"security.protocol" = "SSL"`).
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            bootstrap_servers: "127.0.0.1:19092".into(),
            topic_prefix: "trestle.".into(),
            session_timeout_ms: 10_000,
            linger_ms: 5,
            librdkafka: BTreeMap::new(),
        }
    }
}

impl KafkaOptions {
    /// The physical name of a logical topic from `topics.toml`.
    pub fn topic(&self, logical: &str) -> String {
        format!("{}{}", self.topic_prefix, logical)
    }

    /// Base config: brokers plus the pass-through properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.bootstrap_servers);
        cfg.set("client.dns.lookup", "use_all_dns_ips");
        for (k, v) in &self.librdkafka {
            cfg.set(k, v);
        }
        cfg
    }

    /// An idempotent producer partitioning keys like the Java client.
    pub fn producer_config(&self) -> ClientConfig {
        let mut cfg = self.client_config();
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            // NEVER CHANGE: Java-client-compatible key hashing (invariant 1).
            .set("partitioner", "murmur2_random")
            .set("linger.ms", self.linger_ms.to_string())
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "30000");
        self.reapply(&mut cfg);
        cfg
    }

    /// A transactional producer for consume-transform-produce with this `transactional_id`.
    pub fn transactional_producer_config(&self, transactional_id: &str) -> ClientConfig {
        let mut cfg = self.producer_config();
        cfg.set("transactional.id", transactional_id)
            .set("transaction.timeout.ms", "60000")
            // A transaction begun right after the previous commit gets CONCURRENT_TRANSACTIONS
            // until the broker has written the markers (a few ms); librdkafka retries after
            // retry.backoff.ms, 100 ms by default — most of a consume-transform-produce cycle.
            .set("retry.backoff.ms", "5")
            .set("retry.backoff.max.ms", "100");
        self.reapply(&mut cfg);
        cfg
    }

    /// A group consumer that sees only committed records and never auto-commits.
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut cfg = self.client_config();
        cfg.set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("enable.partition.eof", "false");
        self.reapply(&mut cfg);
        cfg
    }

    fn reapply(&self, cfg: &mut ClientConfig) {
        for (k, v) in &self.librdkafka {
            cfg.set(k, v);
        }
    }
}
