//! [`Scheduler`]: the per-consumer fair scheduler — deficit round-robin over companies, caps,
//! ordering keys, watermarks, flow control and revocation.

use std::collections::{HashMap, VecDeque};

use uuid::Uuid;

use crate::company::{Company, Entry};
use crate::error::Error;
use crate::metadata::FinishedBeyond;
use crate::options::SchedulerOptions;
use crate::partition::{Admission, PartitionState};
use crate::record::{CommitPoint, Completed, Dispatch, InFlight, Offered, Pending};
use crate::stats::Stats;
use crate::tier::{PerTier, Tier};

/// A dispatched record's hold on its company's slots and ordering key.
#[derive(Debug)]
struct Flight {
    company: u32,
    slot: u64,
    key: Option<String>,
}

/// The fair scheduler of one consumer; see the [crate docs](crate) for the guarantees.
///
/// Single-threaded and free of I/O: the engine's consumer loop owns it, offers what it polls,
/// starts what [`next`](Self::next) returns, reports completions and commits
/// [`commit_point`](Self::commit_point)s.
#[derive(Debug)]
pub struct Scheduler<T> {
    options: SchedulerOptions,
    /// Companies with queued or in-flight records (or still in the ring); `None` is free.
    companies: Vec<Option<Company<T>>>,
    free: Vec<u32>,
    index: HashMap<Uuid, u32>,
    /// Deficit round-robin order. Holds each company with `in_ring` once; a company that stopped
    /// being runnable is removed lazily when it reaches the front.
    ring: VecDeque<u32>,
    partitions: HashMap<i32, PartitionState>,
    in_flight: HashMap<(i32, i64), Flight>,
    /// In flight when their partition was revoked; still holding slots and keys.
    detached: HashMap<(i32, i64), Vec<Flight>>,
    next_seq: u64,
    buffered: usize,
    in_flight_total: usize,
    queued_per_tier: PerTier<usize>,
    in_flight_per_tier: PerTier<usize>,
    companies_waiting: usize,
}

impl<T> Scheduler<T> {
    pub(crate) fn new(options: SchedulerOptions) -> Self {
        Scheduler {
            options,
            companies: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            ring: VecDeque::new(),
            partitions: HashMap::new(),
            in_flight: HashMap::new(),
            detached: HashMap::new(),
            next_seq: 0,
            buffered: 0,
            in_flight_total: 0,
            queued_per_tier: PerTier::default(),
            in_flight_per_tier: PerTier::default(),
            companies_waiting: 0,
        }
    }

    /// The options it was built with.
    pub fn options(&self) -> &SchedulerOptions {
        &self.options
    }

    /// Queues a polled record. Records of a partition must be offered in log (offset) order;
    /// offsets may have gaps. Never refuses for lack of room — bound the buffers by pausing
    /// partitions ([`should_pause`](Self::should_pause)).
    ///
    /// A record already finished ([`Offered::AlreadyDone`]) or already queued or in flight
    /// ([`Offered::Duplicate`]) is dropped. Offering to a partition that was never
    /// [`restore`](Self::restore)d starts its watermark at the first offered offset.
    ///
    /// O(log n) in the company's queued records.
    pub fn offer(&mut self, record: Pending<T>) -> Offered {
        let partition = self.partitions.entry(record.partition).or_default();
        let slot = match partition.admit(record.offset) {
            Admission::Queue { slot } => slot,
            Admission::Drop(verdict) => return verdict,
        };
        partition.buffered += 1;
        self.buffered += 1;
        let idx = self.company_index(record.company, record.tier);
        let seq = self.next_seq;
        self.next_seq += 1;
        let company = live(&mut self.companies, idx);
        company.enqueue(Entry {
            seq,
            partition: record.partition,
            offset: record.offset,
            slot,
            key: record.ordering_key,
            payload: record.payload,
        });
        *self.queued_per_tier.get_mut(company.tier) += 1;
        self.touch(idx);
        Offered::Queued
    }

    /// The next record to start, or `None` if the global in-flight cap is reached or no company
    /// may start one (nothing queued, its cap reached, or its keys busy). Call it until `None`,
    /// and again after each [`offer`](Self::offer) or [`complete`](Self::complete).
    ///
    /// Companies take turns (deficit round-robin): on its turn a company starts up to its tier's
    /// weight of records, its oldest ready record first, then goes to the back of the ring. A
    /// company that cannot start a record leaves the ring and rejoins at the back when it can.
    /// So a company waits at most one round — the weights of the companies ahead of it — and
    /// under contention throughput is proportional to the weights. Amortized O(log n).
    // Not an `Iterator`: `None` means "nothing may start now", not "exhausted".
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Dispatch<T>> {
        if self.in_flight_total >= self.options.max_in_flight {
            return None;
        }
        let caps = self.options.max_in_flight_per_company;
        while let Some(&idx) = self.ring.front() {
            let company = live(&mut self.companies, idx);
            if !company.runnable(&caps) {
                self.ring.pop_front();
                company.in_ring = false;
                company.deficit = 0;
                self.companies_waiting -= 1;
                if company.is_idle() {
                    self.free_company(idx);
                }
                continue;
            }
            if company.deficit == 0 {
                company.deficit = *self.options.weights.get(company.tier);
            }
            let entry = company
                .start()
                .expect("a runnable company has a ready record");
            company.deficit -= 1;
            let runnable = company.runnable(&caps);
            if company.deficit == 0 || !runnable {
                self.ring.pop_front();
                if runnable {
                    self.ring.push_back(idx);
                } else {
                    company.in_ring = false;
                    company.deficit = 0;
                    self.companies_waiting -= 1;
                }
            }
            let (id, tier) = (company.id, company.tier);
            *self.queued_per_tier.get_mut(tier) -= 1;
            *self.in_flight_per_tier.get_mut(tier) += 1;
            self.in_flight_total += 1;
            self.buffered -= 1;
            if let Some(partition) = self.partitions.get_mut(&entry.partition) {
                partition.buffered -= 1;
            }
            let previous = self.in_flight.insert(
                (entry.partition, entry.offset),
                Flight {
                    company: idx,
                    slot: entry.slot,
                    key: entry.key.clone(),
                },
            );
            debug_assert!(previous.is_none(), "a record is dispatched twice");
            return Some(Dispatch {
                partition: entry.partition,
                offset: entry.offset,
                company: id,
                tier,
                ordering_key: entry.key,
                payload: entry.payload,
            });
        }
        None
    }

    /// A dispatched record is done (or abandoned): frees its slots and ordering key, and marks
    /// its offset finished unless its partition was revoked since. Unknown records are ignored.
    /// O(log n) in the partition's uncommitted records.
    pub fn complete(&mut self, partition: i32, offset: i64) -> Completed {
        let (flight, verdict) = match self.in_flight.remove(&(partition, offset)) {
            Some(flight) => {
                if let Some(state) = self.partitions.get_mut(&partition) {
                    state.finish(offset, flight.slot);
                }
                (flight, Completed::Finished)
            }
            None => {
                let Some(flights) = self.detached.get_mut(&(partition, offset)) else {
                    return Completed::Unknown;
                };
                let flight = flights.pop().expect("detached lists are never empty");
                if flights.is_empty() {
                    self.detached.remove(&(partition, offset));
                }
                (flight, Completed::Revoked)
            }
        };
        let company = live(&mut self.companies, flight.company);
        company.release(flight.key.as_deref());
        *self.in_flight_per_tier.get_mut(company.tier) -= 1;
        self.in_flight_total -= 1;
        self.touch(flight.company);
        verdict
    }

    /// Sets up a newly assigned partition from its committed offset and the finished offsets
    /// beyond it (decoded from the commit metadata): records below `committed` and those in
    /// `finished_beyond` are answered [`Offered::AlreadyDone`]. Call it before offering the
    /// partition's records. If the partition still has state, it is first
    /// [`revoke`](Self::revoke)d.
    pub fn restore(&mut self, partition: i32, committed: i64, finished_beyond: &[i64]) {
        if self.partitions.contains_key(&partition) {
            self.revoke(partition);
        }
        self.partitions.insert(
            partition,
            PartitionState::restored(committed, finished_beyond),
        );
    }

    /// [`restore`](Self::restore) from a Kafka commit: its offset and its metadata as produced by
    /// [`commit_point`](Self::commit_point). Unreadable metadata restores with no finished
    /// offsets (those records are redone, which is safe) and returns the error for logging.
    pub fn restore_from_commit(
        &mut self,
        partition: i32,
        committed: i64,
        metadata: &str,
    ) -> Result<(), Error> {
        match FinishedBeyond::decode(metadata) {
            Ok(finished) => {
                let offsets = finished.map(|f| f.offsets).unwrap_or_default();
                self.restore(partition, committed, &offsets);
                Ok(())
            }
            Err(error) => {
                self.restore(partition, committed, &[]);
                Err(error)
            }
        }
    }

    /// Forgets a partition: drops its queued records and its offsets, and returns its records in
    /// flight, by offset. Those keep holding their company's slots and ordering keys until
    /// [`complete`](Self::complete) is called for each — call it when the work finishes or is
    /// abandoned; it answers [`Completed::Revoked`] and records no offset. O(companies).
    pub fn revoke(&mut self, partition: i32) -> Vec<InFlight> {
        let Some(state) = self.partitions.remove(&partition) else {
            return Vec::new();
        };
        self.buffered -= state.buffered;
        for idx in 0..self.companies.len() as u32 {
            let Some(company) = self.companies[idx as usize].as_mut() else {
                continue;
            };
            if company.queued > 0 {
                let dropped = company.drop_partition(partition);
                *self.queued_per_tier.get_mut(company.tier) -= dropped;
                self.touch(idx);
            }
        }
        let mut revoked: Vec<(i32, i64)> = self
            .in_flight
            .keys()
            .filter(|(p, _)| *p == partition)
            .copied()
            .collect();
        revoked.sort_unstable();
        revoked
            .into_iter()
            .map(|id| {
                let flight = self.in_flight.remove(&id).expect("listed above");
                let record = InFlight {
                    partition: id.0,
                    offset: id.1,
                    company: live(&mut self.companies, flight.company).id,
                    ordering_key: flight.key.clone(),
                };
                self.detached.entry(id).or_default().push(flight);
                record
            })
            .collect()
    }

    /// The next offset to commit for `partition`: the offset of its lowest offered-but-unfinished
    /// record, or — when every offered record is finished — the last offered offset + 1 (the
    /// restored offset before any offer). Offsets never offered (transaction markers, gaps) do
    /// not hold it back. `None` for a partition never offered to nor restored.
    pub fn committable(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition)?.committable()
    }

    /// The finished offsets above [`committable`](Self::committable), ascending — including
    /// those restored and not yet offered again.
    pub fn finished_beyond(&self, partition: i32) -> Vec<i64> {
        self.partitions
            .get(&partition)
            .map(PartitionState::finished_beyond)
            .unwrap_or_default()
    }

    /// What to commit for `partition`: [`committable`](Self::committable) and the
    /// [`finished_beyond`](Self::finished_beyond) set encoded as metadata of at most
    /// `metadata_max_bytes` (the tail dropped if needed).
    pub fn commit_point(&self, partition: i32) -> Option<CommitPoint> {
        let state = self.partitions.get(&partition)?;
        let offset = state.committable()?;
        let metadata = FinishedBeyond {
            watermark: offset,
            offsets: state.finished_beyond(),
        }
        .encode(self.options.metadata_max_bytes);
        Some(CommitPoint { offset, metadata })
    }

    /// Records of `partition` offered and not yet dispatched.
    pub fn buffered(&self, partition: i32) -> usize {
        self.partitions.get(&partition).map_or(0, |s| s.buffered)
    }

    /// Records offered and not yet dispatched, all partitions.
    pub fn buffered_total(&self) -> usize {
        self.buffered
    }

    /// Records dispatched and not completed (revoked partitions' included).
    pub fn in_flight(&self) -> usize {
        self.in_flight_total
    }

    /// `partition` should be paused: its buffer is full (`max_buffered_per_partition`), too
    /// many of its offsets are uncommitted (`max_uncommitted_per_partition`), or the total is
    /// full (`max_buffered`) and this partition holds at least its share of it (`max_buffered`
    /// over the partitions known). So a flood fills and pauses its own partitions while the
    /// others keep flowing up to their share: the total stays below about twice `max_buffered`.
    /// Records polled after pausing are still offered; the overshoot is at most what the
    /// consumer had already fetched.
    pub fn should_pause(&self, partition: i32) -> bool {
        let (buffered, uncommitted) = self.partition_load(partition);
        buffered >= self.options.max_buffered_per_partition
            || (self.buffered >= self.options.max_buffered && buffered >= self.share())
            || uncommitted >= self.options.max_uncommitted_per_partition
    }

    /// A paused `partition` may be resumed: its buffer has drained to its resume level, and the
    /// total to its resume level or this partition to half its share; its uncommitted offsets
    /// to half their maximum. Between the levels neither predicate holds, so a partition does
    /// not flap.
    pub fn should_resume(&self, partition: i32) -> bool {
        let (buffered, uncommitted) = self.partition_load(partition);
        buffered <= self.options.resume_buffered_per_partition
            && (self.buffered <= self.options.resume_buffered || buffered < self.share() / 2)
            && uncommitted <= self.options.max_uncommitted_per_partition / 2
    }

    /// A partition's share of the total buffer.
    fn share(&self) -> usize {
        (self.options.max_buffered / self.partitions.len().max(1)).max(1)
    }

    /// Counts for telemetry. O(1).
    pub fn stats(&self) -> Stats {
        Stats {
            queued: self.queued_per_tier,
            in_flight: self.in_flight_per_tier,
            companies_active: self.index.len(),
            companies_waiting: self.companies_waiting,
            partitions: self.partitions.len(),
        }
    }

    fn partition_load(&self, partition: i32) -> (usize, usize) {
        self.partitions
            .get(&partition)
            .map_or((0, 0), |s| (s.buffered, s.uncommitted()))
    }

    /// The slot of `id`, created if needed, with its tier set to `tier`.
    fn company_index(&mut self, id: Uuid, tier: Tier) -> u32 {
        if let Some(&idx) = self.index.get(&id) {
            let company = live(&mut self.companies, idx);
            if company.tier != tier {
                *self.queued_per_tier.get_mut(company.tier) -= company.queued;
                *self.queued_per_tier.get_mut(tier) += company.queued;
                let in_flight = company.in_flight as usize;
                *self.in_flight_per_tier.get_mut(company.tier) -= in_flight;
                *self.in_flight_per_tier.get_mut(tier) += in_flight;
                company.tier = tier;
            }
            return idx;
        }
        let company = Company::new(id, tier);
        let idx = match self.free.pop() {
            Some(idx) => {
                self.companies[idx as usize] = Some(company);
                idx
            }
            None => {
                self.companies.push(Some(company));
                (self.companies.len() - 1) as u32
            }
        };
        self.index.insert(id, idx);
        idx
    }

    /// After a change to a company: puts it in the ring if it became runnable, frees it if idle.
    fn touch(&mut self, idx: u32) {
        let company = live(&mut self.companies, idx);
        if company.in_ring {
            return;
        }
        if company.runnable(&self.options.max_in_flight_per_company) {
            company.in_ring = true;
            self.ring.push_back(idx);
            self.companies_waiting += 1;
        } else if company.is_idle() {
            self.free_company(idx);
        }
    }

    fn free_company(&mut self, idx: u32) {
        let company = self.companies[idx as usize].take().expect("a live company");
        self.index.remove(&company.id);
        self.free.push(idx);
    }
}

/// The live company at `idx`.
fn live<T>(companies: &mut [Option<Company<T>>], idx: u32) -> &mut Company<T> {
    companies[idx as usize]
        .as_mut()
        .expect("an index points at a live company")
}
