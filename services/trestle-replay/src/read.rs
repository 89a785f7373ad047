//! The reader threads, one per topic: each polls its manually assigned consumer, copies each
//! record out of librdkafka at once, and stops each partition at the end captured at start.
//!
//! A partition is finished by whichever comes first: a record at `end - 1` or beyond, a record
//! timestamp past `to + slack`, the consumer's position reaching `end` (the last offsets were
//! transaction markers), or librdkafka's end-of-partition event (the last records before `end`
//! were aborted and their abort marker lies beyond it: read_committed consumers skip them
//! without moving their position). The event names only a partition number, which is why
//! each consumer reads a single topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use trestle_kafka::OwnedRecord;

use crate::plan::Range;
use crate::Error;

/// Records handed to the writer in one channel message.
const BATCH: usize = 512;
/// How long one poll waits; also the longest a partition parked on a transaction marker waits
/// before its position is checked.
const POLL: Duration = Duration::from_millis(100);
/// How often positions are checked while records keep flowing.
const POSITION_CHECK: Duration = Duration::from_millis(500);
/// How long the reader waits without any partition moving before it gives up, rather than
/// hang on a broker that went away.
const STALL: Duration = Duration::from_secs(60);

/// A record copied out of librdkafka (whose fields it derefs to), and the range it belongs to.
#[derive(Debug)]
pub(crate) struct Raw {
    /// Index into the ranges.
    pub range: usize,
    pub record: OwnedRecord,
}

impl std::ops::Deref for Raw {
    type Target = OwnedRecord;

    fn deref(&self) -> &OwnedRecord {
        &self.record
    }
}

/// Why the reader stopped reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// No record of the partition falls in the (slack-widened) time range.
    NothingInRange,
    /// Reached the end offset captured at start.
    EndOffset,
    /// A record's timestamp passed `to` plus slack.
    PassedTo,
}

/// What the reader sends to the writer, in partition offset order.
#[derive(Debug)]
pub(crate) enum Item {
    Record(Raw),
    /// No more records of this range will come.
    Finished {
        range: usize,
        stop: Stop,
    },
    /// A consumer error librdkafka retries by itself, worth telling the analyst.
    Warning(String),
    /// This reader failed; the replay stops.
    Failed(Error),
}

struct State {
    end: i64,
    done: bool,
}

/// Reads the ranges `own` (all of one topic, assigned to `consumer`) to their ends, sending
/// batches to `tx`, and a final [`Item::Failed`] if it fails; returns when all are done or the
/// receiver is gone. Blocking: run it on a blocking thread.
pub(crate) fn run(
    consumer: BaseConsumer,
    ranges: &[Range],
    own: &[usize],
    stop_ms: i64,
    tx: mpsc::Sender<Vec<Item>>,
) {
    let result = read(&consumer, ranges, own, stop_ms, &tx);
    // Leave the assignment before the consumer is dropped; no message is alive any more.
    let _ = consumer.unassign();
    drop(consumer);
    if let Err(error) = result {
        // Tell the writer at once, so the other readers stop too. If the writer is gone, it
        // failed first and reports its own error.
        let _ = tx.blocking_send(vec![Item::Failed(error)]);
    }
}

fn read(
    consumer: &BaseConsumer,
    ranges: &[Range],
    own: &[usize],
    stop_ms: i64,
    tx: &mpsc::Sender<Vec<Item>>,
) -> Result<(), Error> {
    let index: HashMap<(&str, i32), usize> = own
        .iter()
        .map(|&i| ((ranges[i].topic.as_str(), ranges[i].partition), i))
        .collect();
    // Indexed like `ranges`; the ranges of other readers count as done here.
    let mut state: Vec<State> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| State {
            end: r.end,
            done: !own.contains(&i),
        })
        .collect();
    let mut out = Batcher {
        tx,
        items: Vec::with_capacity(BATCH),
    };
    let mut remaining = 0;
    for &i in own {
        let r = &ranges[i];
        if r.start >= r.end {
            state[i].done = true;
            out.push(Item::Finished {
                range: i,
                stop: Stop::NothingInRange,
            })?;
        } else {
            remaining += 1;
        }
    }
    let mut finish = |i: usize, stop: Stop, state: &mut [State], out: &mut Batcher| {
        state[i].done = true;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&ranges[i].topic, ranges[i].partition);
        // Records beyond the end are never wanted; stop fetching them.
        let _ = consumer.pause(&tpl);
        out.push(Item::Finished { range: i, stop })
    };

    let mut last_check = Instant::now();
    let mut last_move = Instant::now();
    let mut last_warning: Option<(String, Instant)> = None;
    while remaining > 0 {
        match consumer.poll(POLL) {
            None => {
                out.flush()?;
                let finished =
                    check_positions(consumer, &index, &mut state, &mut finish, &mut out)?;
                remaining -= finished;
                last_check = Instant::now();
                if finished > 0 {
                    last_move = Instant::now();
                } else if last_move.elapsed() >= STALL {
                    return Err(stalled(ranges, &state));
                }
                continue;
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                // Everything below the broker's end (at or past ours) has been delivered.
                let mine = own
                    .iter()
                    .copied()
                    .find(|&i| ranges[i].partition == partition && !state[i].done);
                if let Some(i) = mine {
                    last_move = Instant::now();
                    finish(i, Stop::EndOffset, &mut state, &mut out)?;
                    remaining -= 1;
                }
            }
            Some(Err(error)) => {
                if let Some(warning) = handle_error(error, own, ranges)? {
                    // librdkafka repeats a failing fetch; say it once every few seconds.
                    let repeated = last_warning.as_ref().is_some_and(|(w, at)| {
                        *w == warning && at.elapsed() < Duration::from_secs(10)
                    });
                    if !repeated {
                        out.push(Item::Warning(warning.clone()))?;
                        last_warning = Some((warning, Instant::now()));
                    }
                }
                if last_move.elapsed() >= STALL {
                    return Err(stalled(ranges, &state));
                }
            }
            Some(Ok(message)) => {
                last_move = Instant::now();
                // Copy everything out and drop the message at once: librdkafka cannot
                // destroy the consumer while a message it handed out is alive.
                let Some(&i) = index.get(&(message.topic(), message.partition())) else {
                    continue;
                };
                let raw = Raw {
                    range: i,
                    record: OwnedRecord::from_message(&message),
                };
                drop(message);
                if state[i].done {
                    continue;
                }
                if raw.offset >= state[i].end {
                    finish(i, Stop::EndOffset, &mut state, &mut out)?;
                    remaining -= 1;
                    continue;
                }
                if raw.timestamp_ms.is_some_and(|t| t >= stop_ms) {
                    finish(i, Stop::PassedTo, &mut state, &mut out)?;
                    remaining -= 1;
                    continue;
                }
                let last = raw.offset + 1 >= state[i].end;
                out.push(Item::Record(raw))?;
                if last {
                    finish(i, Stop::EndOffset, &mut state, &mut out)?;
                    remaining -= 1;
                }
            }
        }
        if last_check.elapsed() >= POSITION_CHECK {
            remaining -= check_positions(consumer, &index, &mut state, &mut finish, &mut out)?;
            last_check = Instant::now();
        }
    }
    out.flush()
}

/// Finishes the partitions whose position reached their end without a record at `end - 1`:
/// the last offsets were transaction markers, which move the position but are never delivered.
/// Returns how many were finished.
fn check_positions<F>(
    consumer: &BaseConsumer,
    index: &HashMap<(&str, i32), usize>,
    state: &mut [State],
    finish: &mut F,
    out: &mut Batcher,
) -> Result<usize, Error>
where
    F: FnMut(usize, Stop, &mut [State], &mut Batcher) -> Result<(), Error>,
{
    let Ok(positions) = consumer.position() else {
        return Ok(0);
    };
    let mut finished = 0;
    for elem in positions.elements() {
        let Some(&i) = index.get(&(elem.topic(), elem.partition())) else {
            continue;
        };
        if let Offset::Offset(position) = elem.offset() {
            if !state[i].done && position >= state[i].end {
                finish(i, Stop::EndOffset, state, out)?;
                finished += 1;
            }
        }
    }
    Ok(finished)
}

/// The partitions not finished, for the stall error.
fn stalled(ranges: &[Range], state: &[State]) -> Error {
    let waiting: Vec<String> = ranges
        .iter()
        .zip(state)
        .filter(|(_, s)| !s.done)
        .map(|(r, _)| format!("{}/{}", r.topic, r.partition))
        .collect();
    Error::Stalled {
        seconds: STALL.as_secs(),
        partitions: waiting.join(", "),
    }
}

/// Fails on errors that will not go away by themselves; returns the others as warnings.
fn handle_error(
    error: KafkaError,
    own: &[usize],
    ranges: &[Range],
) -> Result<Option<String>, Error> {
    let fatal = matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::Fatal
        )
    );
    match error {
        KafkaError::PartitionEOF(_) => Ok(None),
        error if fatal => {
            let topic = own.first().map(|&i| ranges[i].topic.clone());
            Err(Error::Consume {
                topic: topic.unwrap_or_default(),
                source: Box::new(error),
            })
        }
        error => Ok(Some(format!(
            "Kafka reported `{error}`; librdkafka retries by itself."
        ))),
    }
}

/// Items on their way to the writer, sent in batches so the channel costs little per record.
struct Batcher<'a> {
    tx: &'a mpsc::Sender<Vec<Item>>,
    items: Vec<Item>,
}

impl Batcher<'_> {
    fn push(&mut self, item: Item) -> Result<(), Error> {
        self.items.push(item);
        if self.items.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.items.is_empty() {
            return Ok(());
        }
        let items = std::mem::replace(&mut self.items, Vec::with_capacity(BATCH));
        // The writer is gone only when it failed; it reports its own error.
        self.tx
            .blocking_send(items)
            .map_err(|_| Error::Reader("the writer stopped".into()))
    }
}
