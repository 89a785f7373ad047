//! Micro-benchmark: nanoseconds per offer + next + complete with 10,000 companies, with a light
//! and a heavy backlog.
//!
//! `cargo run --release -p trestle-scheduler --example scheduler_bench`. Prints figures, asserts
//! nothing about time.

use std::collections::VecDeque;
use std::time::Instant;

use trestle_scheduler::{Pending, SchedulerOptions, Tier};
use uuid::Uuid;

const COMPANIES: usize = 10_000;
const PARTITIONS: i32 = 12;
const ITERATIONS: usize = 2_000_000;

fn main() {
    // One queued record per company on average (about what the default pause levels allow),
    // then five (50,000 buffered: watermarks lag far behind, windows are large).
    for backlog_per_company in [1, 5] {
        run(backlog_per_company);
    }
}

fn run(backlog_per_company: usize) {
    let options = SchedulerOptions {
        max_in_flight: 256,
        ..SchedulerOptions::default()
    };
    let max_in_flight = options.max_in_flight;
    let mut scheduler = options.build::<u64>().expect("valid options");
    let mut rng = fastrand::Rng::with_seed(7);
    let companies: Vec<(Uuid, Tier, i32)> = (0..COMPANIES)
        .map(|i| {
            let tier = Tier::ALL[rng.usize(..Tier::ALL.len())];
            (Uuid::from_u128(i as u128 + 1), tier, i as i32 % PARTITIONS)
        })
        .collect();
    let keys: Vec<String> = (0..8).map(|k| format!("job-{k}")).collect();
    let mut next_offset = vec![0i64; PARTITIONS as usize];
    let mut offer = |scheduler: &mut trestle_scheduler::Scheduler<u64>, rng: &mut fastrand::Rng| {
        let (company, tier, partition) = companies[rng.usize(..COMPANIES)];
        let offset = &mut next_offset[partition as usize];
        // One record in four is part of a sequence (an ordering key), the rest independent.
        let ordering_key = (rng.u8(..4) == 0).then(|| keys[rng.usize(..keys.len())].clone());
        scheduler.offer(Pending {
            partition,
            offset: *offset,
            company,
            tier,
            ordering_key,
            payload: *offset as u64,
        });
        *offset += 1;
    };

    for _ in 0..COMPANIES * backlog_per_company {
        offer(&mut scheduler, &mut rng);
    }
    let mut in_flight = VecDeque::with_capacity(max_in_flight);
    while let Some(dispatch) = scheduler.next() {
        in_flight.push_back((dispatch.partition, dispatch.offset));
    }

    let start = Instant::now();
    let mut dispatched = 0usize;
    for _ in 0..ITERATIONS {
        // Complete a random in-flight record (out of order, as real latencies are).
        if !in_flight.is_empty() {
            let i = rng.usize(..in_flight.len());
            let (partition, offset) = in_flight.swap_remove_back(i).expect("in range");
            scheduler.complete(partition, offset);
        }
        offer(&mut scheduler, &mut rng);
        while let Some(dispatch) = scheduler.next() {
            dispatched += 1;
            in_flight.push_back((dispatch.partition, dispatch.offset));
        }
    }
    let elapsed = start.elapsed();
    let stats = scheduler.stats();
    println!(
        "{COMPANIES} companies, {PARTITIONS} partitions, max_in_flight {max_in_flight}, \
         {backlog_per_company} queued per company: {:.0} ns per offer + next + complete \
         ({ITERATIONS} iterations, {dispatched} dispatched)",
        elapsed.as_nanos() as f64 / ITERATIONS as f64
    );
    println!(
        "  at the end: {} queued, {} in flight, {} companies active, {} waiting for a turn, \
         committable offset of partition 0: {:?}",
        stats.queued_total(),
        stats.in_flight_total(),
        stats.companies_active,
        stats.companies_waiting,
        scheduler.committable(0),
    );
}
