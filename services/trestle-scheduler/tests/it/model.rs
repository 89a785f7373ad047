//! Randomized model test: random interleavings of produce/offer, dispatch, complete, commit,
//! revoke, reassign and restart, checked step by step against a simple model.
//!
//! Checked at every step: per-key log order and at most one record per key in flight; the
//! per-company and global caps; work conservation (`next` says `None` only when nothing may
//! start); the committable offset and finished-beyond set equal the model's; nothing is answered
//! `AlreadyDone` unless it really finished; every queued record is dispatched at most once. At
//! the end, every record of the log has finished.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use trestle_scheduler::{
    CommitPoint, Completed, FinishedBeyond, Offered, Pending, Scheduler, SchedulerOptions, Tier,
};
use uuid::Uuid;

const PARTITIONS: i32 = 3;
const TIERS: [Tier; 6] = [
    Tier::Starter,
    Tier::Starter,
    Tier::Professional,
    Tier::Premium,
    Tier::Enterprise,
    Tier::Professional,
];
const KEYS: u8 = 3;
const STEPS: usize = 3000;

#[test]
fn random_interleavings_keep_every_invariant() {
    for seed in 0..40 {
        Model::new(seed).run();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    InFlight,
    Finished,
}

#[derive(Debug, Clone, Copy)]
struct LogRecord {
    offset: i64,
    company: usize,
    key: Option<u8>,
}

#[derive(Debug, Default)]
struct Partition {
    /// Every record produced, in offset order (with gaps).
    log: Vec<LogRecord>,
    assigned: bool,
    /// The last commit "in Kafka".
    commit: Option<CommitPoint>,
    /// Records offered since the partition was last assigned.
    offered: BTreeMap<i64, State>,
    /// The committed offset it was restored from.
    base: i64,
    /// Restored finished offsets not offered again yet.
    restored: BTreeSet<i64>,
}

struct Model {
    seed: u64,
    rng: fastrand::Rng,
    options: SchedulerOptions,
    s: Scheduler<i64>,
    partitions: Vec<Partition>,
    company_in_flight: Vec<u32>,
    /// Queued records per (company, key), in offer order.
    key_queues: HashMap<(usize, u8), VecDeque<(i32, i64)>>,
    key_in_flight: HashMap<(usize, u8), u32>,
    independent_queued: Vec<usize>,
    queued: usize,
    in_flight: Vec<(i32, i64)>,
    /// In flight when their partition was revoked.
    detached: Vec<(i32, i64)>,
    ever_finished: HashSet<(i32, i64)>,
}

impl Model {
    fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let options = SchedulerOptions {
            max_in_flight: rng.usize(2..12),
            metadata_max_bytes: 1 << 20,
            ..SchedulerOptions::default()
        };
        let s = options.clone().build().unwrap();
        let mut model = Model {
            seed,
            rng,
            options,
            s,
            partitions: (0..PARTITIONS).map(|_| Partition::default()).collect(),
            company_in_flight: vec![0; TIERS.len()],
            key_queues: HashMap::new(),
            key_in_flight: HashMap::new(),
            independent_queued: vec![0; TIERS.len()],
            queued: 0,
            in_flight: Vec::new(),
            detached: Vec::new(),
            ever_finished: HashSet::new(),
        };
        for p in 0..PARTITIONS {
            model.assign(p);
        }
        model
    }

    fn run(mut self) {
        for step in 0..STEPS {
            let roll = self.rng.u32(..1000);
            match roll {
                0..350 => self.produce(),
                350..650 => self.dispatch(),
                650..920 => self.complete(),
                920..960 => self.commit_all(),
                960..975 => self.revoke(),
                975..990 => {
                    if let Some(p) = self.pick_partition(false) {
                        self.assign(p);
                    }
                }
                990..995 => self.restart(),
                _ => assert_eq!(self.s.complete(0, -1), Completed::Unknown),
            }
            self.check(step);
        }
        self.finish();
    }

    fn pick_partition(&mut self, assigned: bool) -> Option<i32> {
        let candidates: Vec<i32> = (0..PARTITIONS)
            .filter(|&p| self.partitions[p as usize].assigned == assigned)
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.usize(..candidates.len())])
    }

    fn record(&self, p: i32, offset: i64) -> LogRecord {
        let log = &self.partitions[p as usize].log;
        log[log.binary_search_by_key(&offset, |r| r.offset).unwrap()]
    }

    fn produce(&mut self) {
        let p = self.rng.i32(0..PARTITIONS);
        let gap = if self.rng.u8(..5) == 0 {
            self.rng.i64(1..4)
        } else {
            0
        };
        let part = &mut self.partitions[p as usize];
        let offset = part.log.last().map_or(0, |r| r.offset + 1) + gap;
        let key = (self.rng.u8(..5) >= 2).then(|| self.rng.u8(..KEYS));
        let company = self.rng.usize(..TIERS.len());
        part.log.push(LogRecord {
            offset,
            company,
            key,
        });
        if part.assigned {
            self.offer(p, offset);
        }
    }

    fn offer(&mut self, p: i32, offset: i64) {
        let rec = self.record(p, offset);
        let verdict = self.s.offer(Pending {
            partition: p,
            offset,
            company: company_id(rec.company),
            tier: TIERS[rec.company],
            ordering_key: rec.key.map(key_name),
            payload: offset,
        });
        let part = &mut self.partitions[p as usize];
        let want = if part.restored.contains(&offset) {
            Offered::AlreadyDone
        } else {
            Offered::Queued
        };
        assert_eq!(verdict, want, "seed {} offer {p}/{offset}", self.seed);
        part.restored.retain(|&o| o > offset);
        if verdict == Offered::AlreadyDone {
            assert!(
                self.ever_finished.contains(&(p, offset)),
                "seed {}: {p}/{offset} skipped but never finished",
                self.seed
            );
            part.offered.insert(offset, State::Finished);
            return;
        }
        part.offered.insert(offset, State::Queued);
        self.queued += 1;
        match rec.key {
            Some(k) => self
                .key_queues
                .entry((rec.company, k))
                .or_default()
                .push_back((p, offset)),
            None => self.independent_queued[rec.company] += 1,
        }
    }

    fn dispatch(&mut self) {
        let seed = self.seed;
        let Some(d) = self.s.next() else {
            self.assert_nothing_may_start();
            return;
        };
        let (p, offset) = (d.partition, d.offset);
        let rec = self.record(p, offset);
        assert_eq!(d.payload, offset);
        assert_eq!(d.company, company_id(rec.company));
        assert_eq!(d.tier, TIERS[rec.company]);
        assert_eq!(d.ordering_key, rec.key.map(key_name));
        let state = self.partitions[p as usize]
            .offered
            .get_mut(&offset)
            .unwrap();
        assert_eq!(
            *state,
            State::Queued,
            "seed {seed}: {p}/{offset} dispatched twice"
        );
        *state = State::InFlight;
        self.queued -= 1;
        match rec.key {
            Some(k) => {
                let busy = self.key_in_flight.entry((rec.company, k)).or_default();
                assert_eq!(*busy, 0, "seed {seed}: two records of a key in flight");
                *busy = 1;
                let queue = self.key_queues.get_mut(&(rec.company, k)).unwrap();
                assert_eq!(
                    queue.pop_front(),
                    Some((p, offset)),
                    "seed {seed}: a record overtook an earlier one of its key"
                );
            }
            None => self.independent_queued[rec.company] -= 1,
        }
        self.company_in_flight[rec.company] += 1;
        let cap = *self
            .options
            .max_in_flight_per_company
            .get(TIERS[rec.company]);
        assert!(self.company_in_flight[rec.company] <= cap, "seed {seed}");
        self.in_flight.push((p, offset));
        assert!(self.in_flight.len() + self.detached.len() <= self.options.max_in_flight);
    }

    /// `next` said `None`: the global cap is reached, or no company may start a record.
    fn assert_nothing_may_start(&self) {
        if self.in_flight.len() + self.detached.len() >= self.options.max_in_flight {
            return;
        }
        for (c, tier) in TIERS.iter().enumerate() {
            if self.company_in_flight[c] >= *self.options.max_in_flight_per_company.get(*tier) {
                continue;
            }
            assert_eq!(self.independent_queued[c], 0, "seed {}", self.seed);
            for k in 0..KEYS {
                let busy = self.key_in_flight.get(&(c, k)).copied().unwrap_or(0) > 0;
                let waiting = self.key_queues.get(&(c, k)).is_some_and(|q| !q.is_empty());
                assert!(
                    busy || !waiting,
                    "seed {}: company {c} key {k} could start",
                    self.seed
                );
            }
        }
    }

    fn complete(&mut self) {
        let total = self.in_flight.len() + self.detached.len();
        if total == 0 {
            return;
        }
        let i = self.rng.usize(..total);
        let (p, offset) = if i < self.in_flight.len() {
            self.in_flight[i]
        } else {
            self.detached[i - self.in_flight.len()]
        };
        // The scheduler prefers the current run of an offset over a revoked one.
        let verdict = self.s.complete(p, offset);
        if let Some(j) = self.in_flight.iter().position(|&id| id == (p, offset)) {
            assert_eq!(verdict, Completed::Finished, "seed {}", self.seed);
            self.in_flight.swap_remove(j);
            let state = self.partitions[p as usize]
                .offered
                .get_mut(&offset)
                .unwrap();
            *state = State::Finished;
            self.ever_finished.insert((p, offset));
        } else {
            assert_eq!(verdict, Completed::Revoked, "seed {}", self.seed);
            let j = self
                .detached
                .iter()
                .position(|&id| id == (p, offset))
                .unwrap();
            self.detached.swap_remove(j);
        }
        let rec = self.record(p, offset);
        self.company_in_flight[rec.company] -= 1;
        if let Some(k) = rec.key {
            *self.key_in_flight.get_mut(&(rec.company, k)).unwrap() -= 1;
        }
    }

    fn commit_all(&mut self) {
        for p in 0..PARTITIONS {
            if self.partitions[p as usize].assigned {
                self.partitions[p as usize].commit = self.s.commit_point(p);
            }
        }
    }

    fn revoke(&mut self) {
        let Some(p) = self.pick_partition(true) else {
            return;
        };
        // The engine commits what it can before handing the partition back.
        self.partitions[p as usize].commit = self.s.commit_point(p);
        let handed_back: Vec<i64> = self.s.revoke(p).iter().map(|r| r.offset).collect();
        let mut want: Vec<i64> = self
            .in_flight
            .iter()
            .filter(|id| id.0 == p)
            .map(|id| id.1)
            .collect();
        want.sort_unstable();
        assert_eq!(handed_back, want, "seed {}", self.seed);
        let (revoked, kept): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|id| id.0 == p);
        self.in_flight = kept;
        self.detached.extend(revoked);
        self.drop_queued(|id| id.0 == p);
        let part = &mut self.partitions[p as usize];
        part.assigned = false;
        part.offered.clear();
        part.restored.clear();
    }

    /// Forgets queued records matching `dropped`, as the scheduler does on revoke or restart.
    fn drop_queued(&mut self, dropped: impl Fn(&(i32, i64)) -> bool) {
        for (p, part) in self.partitions.iter().enumerate() {
            for (&offset, state) in &part.offered {
                let id = (p as i32, offset);
                if *state == State::Queued && dropped(&id) {
                    let rec = part.log[part
                        .log
                        .binary_search_by_key(&offset, |r| r.offset)
                        .unwrap()];
                    self.queued -= 1;
                    if rec.key.is_none() {
                        self.independent_queued[rec.company] -= 1;
                    }
                }
            }
        }
        for queue in self.key_queues.values_mut() {
            queue.retain(|id| !dropped(id));
        }
    }

    /// Assignment: restore from the last commit, seek to it, offer the log from there.
    fn assign(&mut self, p: i32) {
        let (committed, metadata) = match &self.partitions[p as usize].commit {
            Some(commit) => (commit.offset, commit.metadata.clone()),
            None => (0, String::new()),
        };
        self.s.restore_from_commit(p, committed, &metadata).unwrap();
        let restored = FinishedBeyond::decode(&metadata)
            .unwrap()
            .map(|f| f.offsets)
            .unwrap_or_default();
        let part = &mut self.partitions[p as usize];
        part.assigned = true;
        part.base = committed;
        part.offered.clear();
        part.restored = restored.into_iter().collect();
        let offsets: Vec<i64> = part
            .log
            .iter()
            .map(|r| r.offset)
            .filter(|&o| o >= committed)
            .collect();
        for offset in offsets {
            self.offer(p, offset);
        }
    }

    /// The process dies: in-flight work is lost; a new scheduler restores from the commits.
    fn restart(&mut self) {
        self.s = self.options.clone().build().unwrap();
        self.in_flight.clear();
        self.detached.clear();
        self.key_queues.clear();
        self.key_in_flight.clear();
        self.company_in_flight.iter_mut().for_each(|n| *n = 0);
        self.independent_queued.iter_mut().for_each(|n| *n = 0);
        self.queued = 0;
        for p in 0..PARTITIONS {
            if self.partitions[p as usize].assigned {
                self.assign(p);
            }
        }
    }

    fn check(&self, step: usize) {
        let ctx = format!("seed {} step {step}", self.seed);
        let stats = self.s.stats();
        assert_eq!(stats.queued_total(), self.queued, "{ctx}");
        assert_eq!(self.s.buffered_total(), self.queued, "{ctx}");
        let in_flight = self.in_flight.len() + self.detached.len();
        assert_eq!(stats.in_flight_total(), in_flight, "{ctx}");
        assert_eq!(self.s.in_flight(), in_flight, "{ctx}");
        for (p, part) in self.partitions.iter().enumerate() {
            let p = p as i32;
            if !part.assigned {
                assert_eq!(self.s.committable(p), None, "{ctx}");
                continue;
            }
            let lowest_unfinished = part
                .offered
                .iter()
                .find(|(_, s)| **s != State::Finished)
                .map(|(o, _)| *o);
            let want = lowest_unfinished
                .or_else(|| part.offered.keys().last().map(|o| o + 1))
                .unwrap_or(part.base);
            assert_eq!(self.s.committable(p), Some(want), "{ctx} partition {p}");
            let beyond: Vec<i64> = part
                .offered
                .iter()
                .filter(|(o, s)| **o > want && **s == State::Finished)
                .map(|(o, _)| *o)
                .chain(part.restored.iter().copied())
                .collect();
            assert_eq!(self.s.finished_beyond(p), beyond, "{ctx} partition {p}");
            let buffered = part.offered.values().filter(|s| **s == State::Queued);
            assert_eq!(self.s.buffered(p), buffered.count(), "{ctx} partition {p}");
        }
    }

    /// Reassign everything, finish all work, and check that every record of the log finished.
    fn finish(mut self) {
        for p in 0..PARTITIONS {
            if !self.partitions[p as usize].assigned {
                self.assign(p);
            }
        }
        while !self.detached.is_empty() || !self.in_flight.is_empty() || self.queued > 0 {
            if self.in_flight.len() + self.detached.len() > 0 && self.rng.bool() {
                self.complete();
            } else {
                self.dispatch();
            }
            self.check(STEPS);
        }
        for (p, part) in self.partitions.iter().enumerate() {
            for r in &part.log {
                assert!(
                    self.ever_finished.contains(&(p as i32, r.offset)),
                    "seed {}: {p}/{} never finished",
                    self.seed,
                    r.offset
                );
            }
            let end = part.log.last().map_or(part.base, |r| r.offset + 1);
            assert_eq!(
                self.s.committable(p as i32),
                Some(end),
                "seed {}",
                self.seed
            );
        }
    }
}

fn company_id(company: usize) -> Uuid {
    Uuid::from_u128(company as u128 + 1)
}

fn key_name(key: u8) -> String {
    format!("job-{key}")
}
