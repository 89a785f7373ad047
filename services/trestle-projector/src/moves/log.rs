//! What a move reads from the log: the company's `tenants` history (its latest provisioning and
//! an unfinished move), and its usage records at given offsets of one usage partition. Manual
//! assignment, read_committed, no consumer group joined and nothing committed.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use trestle_events::{Event, TenantMoveStarted, TenantProvisioned};
use trestle_kafka::{KafkaOptions, OwnedRecord};
use uuid::Uuid;

use super::error::{kafka as kafka_err, Error};

/// A read that receives nothing for this long checks whether it reached the end.
const IDLE: Duration = Duration::from_millis(500);
/// Idle checks after which a read to the end of a partition stops (its tail holds only
/// transaction markers, which read_committed never delivers).
const IDLE_CHECKS_AT_END: u32 = 6;
/// Idle checks after which a read to a known offset gives up.
const IDLE_CHECKS_TO_OFFSET: u32 = 60;

/// The company's tenant history, as far as the log holds it now.
#[derive(Debug, Default)]
pub(super) struct History {
    /// Its latest provisioning (by occurred_at, later in the log on a tie), as the routing
    /// projection folds it.
    pub(super) provisioned: Option<TenantProvisioned>,
    /// The move started and not finished, if any.
    pub(super) open: Option<Open>,
}

/// An unfinished move: its start and, once published, its cut-over.
#[derive(Debug)]
pub(super) struct Open {
    pub(super) started: TenantMoveStarted,
    /// The `TenantProvisioned` caused by `started`.
    pub(super) cutover: Option<TenantProvisioned>,
}

/// Reads the company's events on `tenants` (its key's partition) from the beginning to the end.
pub(super) async fn tenant_history(kafka: &KafkaOptions, company: Uuid) -> Result<History, Error> {
    let key = trestle_kafka::company_key(&company);
    let topic = kafka.topic("tenants");
    let partition = partition_of(kafka, &topic, key.as_bytes())?;
    let mut history = History::default();
    read(kafka, &topic, partition, 0, None, |record| {
        if record.key.as_deref() != Some(key.as_bytes()) {
            return;
        }
        let Some(Ok(event)) = record.payload.as_deref().map(trestle_events::decode) else {
            return; // dead-lettered by the projectors
        };
        history.fold(event);
    })
    .await?;
    Ok(history)
}

impl History {
    fn fold(&mut self, event: Event) {
        match event {
            Event::TenantProvisioned(p) => {
                if let Some(open) = &mut self.open {
                    if p.meta.causation_id == open.started.meta.event_id {
                        open.cutover = Some(p.clone());
                    }
                }
                let newer = self
                    .provisioned
                    .as_ref()
                    .is_none_or(|q| p.meta.occurred_at >= q.meta.occurred_at);
                if newer {
                    self.provisioned = Some(p);
                }
            }
            Event::TenantMoveStarted(started) => {
                self.open = Some(Open {
                    started,
                    cutover: None,
                })
            }
            Event::TenantMoved(moved)
                if self
                    .open
                    .as_ref()
                    .is_some_and(|o| o.started.move_id == moved.move_id) =>
            {
                self.open = None;
            }
            _ => {}
        }
    }
}

/// The partition a key is on (Kafka's murmur2, as every producer puts it there).
pub(super) fn partition_of(kafka: &KafkaOptions, topic: &str, key: &[u8]) -> Result<i32, Error> {
    let consumer: StreamConsumer = kafka
        .consumer_config(&throwaway_group(kafka))
        .create()
        .map_err(kafka_err("creating a consumer"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(kafka_err(format!("reading the metadata of {topic}")))?;
    let count = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    if count == 0 {
        return Err(Error::StoppedShort {
            topic: topic.to_owned(),
            partition: 0,
            got: None,
            want: 0,
        });
    }
    Ok(trestle_kafka::partition_for_key(key, count))
}

fn throwaway_group(kafka: &KafkaOptions) -> String {
    // librdkafka wants a group id; it is never joined (manual assignment) nor committed to.
    format!(
        "{}trestle-move-{}",
        kafka.topic_prefix,
        Uuid::now_v7().simple()
    )
}

/// Hands every record of `topic[partition]` from `from` to `last` (inclusive; `None`: the end
/// at the start of the read) to `visit`, in offset order.
pub(super) async fn read(
    kafka: &KafkaOptions,
    topic: &str,
    partition: i32,
    from: i64,
    last: Option<i64>,
    mut visit: impl FnMut(OwnedRecord),
) -> Result<(), Error> {
    let mut config = kafka.consumer_config(&throwaway_group(kafka));
    // The end of a partition is reported even when its last offsets are transaction markers,
    // which read_committed never delivers.
    config.set("enable.partition.eof", "true");
    let consumer: StreamConsumer = config.create().map_err(kafka_err("creating a consumer"))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .map_err(kafka_err(format!(
            "reading the watermarks of {topic}[{partition}]"
        )))?;
    let end = last.map_or(high, |l| l + 1); // exclusive
    let start = from.max(low);
    if start >= end {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(start))
        .map_err(kafka_err("assigning a consumer"))?;
    consumer
        .assign(&tpl)
        .map_err(kafka_err(format!("assigning {topic}[{partition}]")))?;
    let (mut idle, mut got) = (0, None);
    loop {
        match tokio::time::timeout(IDLE, consumer.recv()).await {
            Ok(Ok(m)) => {
                let record = OwnedRecord::from_message(&m);
                drop(m);
                idle = 0;
                let offset = record.offset;
                got = Some(offset);
                if offset < end {
                    visit(record);
                }
                if offset + 1 >= end {
                    break;
                }
            }
            Ok(Err(KafkaError::PartitionEOF(_))) if last.is_none() => break,
            Ok(Err(KafkaError::PartitionEOF(_))) => {}
            Ok(Err(e)) => return Err(kafka_err(format!("reading {topic}[{partition}]"))(e)),
            Err(_) => {
                idle += 1;
                let position = consumer
                    .position()
                    .ok()
                    .and_then(|p| p.find_partition(topic, partition).map(|e| e.offset()))
                    .and_then(|o| o.to_raw());
                if position.is_some_and(|p| p >= end)
                    || (last.is_none() && idle >= IDLE_CHECKS_AT_END)
                {
                    break;
                }
                if idle >= IDLE_CHECKS_TO_OFFSET {
                    return Err(Error::StoppedShort {
                        topic: topic.to_owned(),
                        partition,
                        got,
                        want: end - 1,
                    });
                }
            }
        }
    }
    let _ = consumer.unassign();
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    Ok(())
}
