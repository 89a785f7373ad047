//! One company's queued records: the ready set (oldest first) and a FIFO per busy ordering key.

use std::collections::{BTreeMap, HashMap, VecDeque};

use uuid::Uuid;

use crate::tier::{PerTier, Tier};

/// A queued record, inside its company.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// Arrival order over the whole scheduler; orders the ready set.
    pub(crate) seq: u64,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    /// Its slot in the partition's offset window.
    pub(crate) slot: u64,
    pub(crate) key: Option<String>,
    pub(crate) payload: T,
}

/// The records of one ordering key that is busy: its head is ready or in flight.
#[derive(Debug)]
struct KeyState<T> {
    /// One record of the key is in flight.
    in_flight: bool,
    /// One record of the key (its oldest queued) is in the ready set.
    head_ready: bool,
    /// The key's other queued records, in offer order.
    waiting: VecDeque<Entry<T>>,
}

/// A company with queued or in-flight records.
///
/// Invariants: every record of `ready` may start now as far as ordering goes (no key has two
/// there, nor one there and one in flight); a key is in `keys` exactly while it has a record
/// ready or in flight, and its `waiting` records wait for that one.
#[derive(Debug)]
pub(crate) struct Company<T> {
    pub(crate) id: Uuid,
    pub(crate) tier: Tier,
    /// Records dispatched and not completed, including those of revoked partitions.
    pub(crate) in_flight: u32,
    /// Records queued (ready or waiting).
    pub(crate) queued: usize,
    /// Deficit round-robin: records it may still start in its current turn.
    pub(crate) deficit: u32,
    /// It has an entry in the scheduler's ring.
    pub(crate) in_ring: bool,
    ready: BTreeMap<u64, Entry<T>>,
    keys: HashMap<String, KeyState<T>>,
}

impl<T> Company<T> {
    pub(crate) fn new(id: Uuid, tier: Tier) -> Self {
        Company {
            id,
            tier,
            in_flight: 0,
            queued: 0,
            deficit: 0,
            in_ring: false,
            ready: BTreeMap::new(),
            keys: HashMap::new(),
        }
    }

    /// It may start a record now: one is ready and its in-flight cap is not reached.
    pub(crate) fn runnable(&self, caps: &PerTier<u32>) -> bool {
        !self.ready.is_empty() && self.in_flight < *caps.get(self.tier)
    }

    /// Nothing queued, nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.queued == 0 && self.in_flight == 0
    }

    /// Queues a record behind the company's earlier records of the same ordering key.
    pub(crate) fn enqueue(&mut self, entry: Entry<T>) {
        self.queued += 1;
        let Some(key) = &entry.key else {
            self.ready.insert(entry.seq, entry);
            return;
        };
        match self.keys.get_mut(key) {
            Some(state) => state.waiting.push_back(entry),
            None => {
                self.keys.insert(
                    key.clone(),
                    KeyState {
                        in_flight: false,
                        head_ready: true,
                        waiting: VecDeque::new(),
                    },
                );
                self.ready.insert(entry.seq, entry);
            }
        }
    }

    /// Takes the oldest ready record and counts it in flight.
    pub(crate) fn start(&mut self) -> Option<Entry<T>> {
        let (_, entry) = self.ready.pop_first()?;
        if let Some(key) = &entry.key {
            let state = self.keys.get_mut(key).expect("a ready key is busy");
            state.head_ready = false;
            state.in_flight = true;
        }
        self.queued -= 1;
        self.in_flight += 1;
        Some(entry)
    }

    /// A record of `key` is no longer in flight: the key's next record becomes ready.
    pub(crate) fn release(&mut self, key: Option<&str>) {
        self.in_flight -= 1;
        let Some(key) = key else { return };
        let Some(state) = self.keys.get_mut(key) else {
            return;
        };
        state.in_flight = false;
        match state.waiting.pop_front() {
            Some(next) => {
                state.head_ready = true;
                self.ready.insert(next.seq, next);
            }
            None => {
                self.keys.remove(key);
            }
        }
    }

    /// Drops the queued records of `partition`, keeping each key's order; returns how many.
    pub(crate) fn drop_partition(&mut self, partition: i32) -> usize {
        let Company {
            ready,
            keys,
            queued,
            ..
        } = self;
        let before = *queued;
        ready.retain(|_, entry| {
            if entry.partition != partition {
                return true;
            }
            if let Some(state) = entry.key.as_ref().and_then(|k| keys.get_mut(k)) {
                state.head_ready = false;
            }
            *queued -= 1;
            false
        });
        keys.retain(|_, state| {
            let len = state.waiting.len();
            state.waiting.retain(|entry| entry.partition != partition);
            *queued -= len - state.waiting.len();
            if !state.in_flight && !state.head_ready {
                if let Some(next) = state.waiting.pop_front() {
                    state.head_ready = true;
                    ready.insert(next.seq, next);
                }
            }
            state.in_flight || state.head_ready
        });
        before - *queued
    }
}
