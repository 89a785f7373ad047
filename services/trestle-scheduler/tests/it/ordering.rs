//! Ordering keys: one record per key in flight, in log order; independent records overlap.

use trestle_scheduler::{SchedulerOptions, Tier};

use crate::support::{company, drain, offsets, record, scheduler};

#[test]
fn records_with_the_same_ordering_key_run_one_at_a_time_in_log_order() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    for (offset, key) in [
        (0, Some("job-a")),
        (1, Some("job-a")),
        (2, None),
        (3, Some("job-a")),
        (4, Some("job-b")),
        (5, Some("job-b")),
    ] {
        s.offer(record(0, offset, c, Tier::Enterprise, key));
    }
    // The heads of job-a and job-b, and the independent record.
    assert_eq!(offsets(&drain(&mut s)), [0, 2, 4]);
    s.complete(0, 2);
    assert!(drain(&mut s).is_empty(), "no key was released");
    s.complete(0, 4);
    assert_eq!(offsets(&drain(&mut s)), [5]);
    s.complete(0, 0);
    assert_eq!(offsets(&drain(&mut s)), [1]);
    s.complete(0, 1);
    assert_eq!(offsets(&drain(&mut s)), [3]);
}

#[test]
fn ordering_keys_are_per_company() {
    let mut s = scheduler(SchedulerOptions::default());
    s.offer(record(0, 0, company(1), Tier::Starter, Some("doc-1")));
    s.offer(record(0, 1, company(2), Tier::Starter, Some("doc-1")));
    assert_eq!(offsets(&drain(&mut s)), [0, 1]);
}

#[test]
fn a_released_key_goes_before_younger_independent_records() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    s.offer(record(0, 0, c, Tier::Starter, Some("job")));
    s.offer(record(0, 1, c, Tier::Starter, Some("job")));
    for offset in 2..6 {
        s.offer(record(0, offset, c, Tier::Starter, None));
    }
    assert_eq!(offsets(&drain(&mut s)), [0, 2], "starter cap 2");
    s.complete(0, 0);
    // Offset 1 is the oldest ready record: it holds the watermark back the longest.
    assert_eq!(offsets(&drain(&mut s)), [1]);
}

#[test]
fn independent_requests_of_one_company_overlap_up_to_its_cap() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    for offset in 0..10 {
        s.offer(record(0, offset, c, Tier::Professional, None));
    }
    assert_eq!(offsets(&drain(&mut s)), [0, 1, 2, 3], "professional cap 4");
    s.complete(0, 2);
    assert_eq!(offsets(&drain(&mut s)), [4]);
    assert_eq!(s.in_flight(), 4);
}

#[test]
fn the_same_key_is_ordered_across_partitions_in_offer_order() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    s.offer(record(1, 50, c, Tier::Premium, Some("job")));
    s.offer(record(0, 7, c, Tier::Premium, Some("job")));
    assert_eq!(offsets(&drain(&mut s)), [50]);
    s.complete(1, 50);
    assert_eq!(offsets(&drain(&mut s)), [7]);
}
