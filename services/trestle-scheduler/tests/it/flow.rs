//! Flow control: when to pause and resume a partition so buffers stay bounded.

use trestle_scheduler::{SchedulerOptions, Tier};

use crate::support::{company, record, scheduler};

fn small_buffers() -> SchedulerOptions {
    SchedulerOptions {
        max_buffered_per_partition: 4,
        resume_buffered_per_partition: 2,
        max_buffered: 6,
        resume_buffered: 3,
        max_in_flight: 100,
        ..SchedulerOptions::default()
    }
}

#[test]
fn partition_pauses_when_its_buffer_is_full_and_resumes_when_drained() {
    let mut s = scheduler(small_buffers());
    let c = company(1);
    let mut offset = 0;
    let mut offer = |s: &mut trestle_scheduler::Scheduler<i64>| {
        s.offer(record(0, offset, c, Tier::Starter, None));
        offset += 1;
    };
    for _ in 0..3 {
        offer(&mut s);
    }
    assert!(!s.should_pause(0));
    offer(&mut s);
    assert_eq!(s.buffered(0), 4);
    assert!(s.should_pause(0), "full");
    // Records polled before the pause took effect are still accepted.
    offer(&mut s);
    assert_eq!(s.buffered(0), 5);

    // A starter company starts 2 at a time.
    let d = s.next().unwrap();
    s.next().unwrap();
    assert_eq!(s.buffered(0), 3);
    assert!(!s.should_pause(0));
    assert!(!s.should_resume(0), "between the levels: stay paused");
    s.complete(0, d.offset);
    s.next().unwrap();
    assert_eq!(s.buffered(0), 2);
    assert!(s.should_resume(0));
}

#[test]
fn a_full_total_pauses_the_partitions_holding_their_share_and_not_the_quiet_ones() {
    let mut s = scheduler(small_buffers());
    // A flood on partition 0; one record each on 1 and 2. Share: 6 / 3 partitions = 2.
    for offset in 0..4 {
        s.offer(record(0, offset, company(1), Tier::Starter, None));
    }
    s.offer(record(1, 0, company(2), Tier::Starter, None));
    s.offer(record(2, 0, company(3), Tier::Starter, None));
    assert_eq!(s.buffered_total(), 6);
    assert!(s.should_pause(0), "the flooded partition");
    assert!(
        !s.should_pause(1) && !s.should_pause(2),
        "quiet partitions keep flowing"
    );
    // The quiet ones reaching their share pause too: the total stays bounded.
    s.offer(record(1, 1, company(2), Tier::Starter, None));
    assert!(s.should_pause(1));
    assert!(!s.should_resume(0), "still full");
}

#[test]
fn a_slow_record_pauses_its_partition_once_too_many_offsets_wait_behind_it() {
    let mut s = scheduler(SchedulerOptions {
        max_uncommitted_per_partition: 10,
        ..SchedulerOptions::default()
    });
    let c = company(1);
    s.offer(record(0, 0, c, Tier::Enterprise, None));
    let slow = s.next().unwrap();
    for offset in 1..10 {
        s.offer(record(0, offset, c, Tier::Enterprise, None));
        let d = s.next().unwrap();
        s.complete(d.partition, d.offset);
    }
    assert_eq!(s.buffered(0), 0);
    assert_eq!(s.committable(0), Some(0));
    assert!(s.should_pause(0), "10 offsets uncommitted");
    s.complete(slow.partition, slow.offset);
    assert_eq!(s.committable(0), Some(10));
    assert!(s.should_resume(0));
}
