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
fn a_full_total_pauses_every_partition() {
    let mut s = scheduler(small_buffers());
    for partition in 0..3 {
        for offset in 0..2 {
            s.offer(record(partition, offset, company(1), Tier::Starter, None));
        }
    }
    assert_eq!(s.buffered_total(), 6);
    assert!((0..4).all(|p| s.should_pause(p)), "even an empty partition");
    assert!(!s.should_resume(3));
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
