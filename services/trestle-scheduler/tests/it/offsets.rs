//! Watermarks and finished-beyond offsets: what to commit, and what a restart skips.

use trestle_scheduler::{Completed, FinishedBeyond, Offered, SchedulerOptions, Tier};

use crate::support::{company, drain, offsets, record, scheduler};

#[test]
fn committable_offset_is_the_lowest_unfinished() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    assert_eq!(s.committable(0), None);
    for offset in 10..16 {
        s.offer(record(0, offset, c, Tier::Enterprise, None));
    }
    assert_eq!(s.committable(0), Some(10), "offered, not finished");
    assert_eq!(drain(&mut s).len(), 6);
    // (completed, committable after it, finished beyond it)
    let steps: [(i64, i64, &[i64]); 6] = [
        (12, 10, &[12]),
        (14, 10, &[12, 14]),
        (10, 11, &[12, 14]),
        (11, 13, &[14]),
        (13, 15, &[]),
        (15, 16, &[]),
    ];
    for (done, committable, beyond) in steps {
        assert_eq!(s.complete(0, done), Completed::Finished);
        assert_eq!(s.committable(0), Some(committable), "after {done}");
        assert_eq!(s.finished_beyond(0), beyond, "after {done}");
    }
}

#[test]
fn restart_skips_records_finished_beyond_the_watermark() {
    let c = company(1);
    let mut before = scheduler(SchedulerOptions::default());
    before.restore(3, 100, &[]);
    for offset in 100..110 {
        before.offer(record(3, offset, c, Tier::Enterprise, None));
    }
    drain(&mut before);
    for offset in [100, 103, 104, 105, 108] {
        before.complete(3, offset);
    }
    let commit = before.commit_point(3).unwrap();
    assert_eq!(commit.offset, 101);
    assert_eq!(commit.metadata, "f1:101:2+3,3");
    let decoded = FinishedBeyond::decode(&commit.metadata).unwrap().unwrap();
    assert_eq!(decoded.offsets, [103, 104, 105, 108]);

    // The process dies; a new one is assigned partition 3 and seeks to the committed offset.
    let mut after = scheduler(SchedulerOptions::default());
    after
        .restore_from_commit(3, commit.offset, &commit.metadata)
        .unwrap();
    assert_eq!(after.committable(3), Some(101));
    assert_eq!(after.finished_beyond(3), [103, 104, 105, 108]);
    let verdicts: Vec<(i64, Offered)> = (101..110)
        .map(|o| (o, after.offer(record(3, o, c, Tier::Enterprise, None))))
        .collect();
    for (offset, verdict) in verdicts {
        let done = [103, 104, 105, 108].contains(&offset);
        let want = if done {
            Offered::AlreadyDone
        } else {
            Offered::Queued
        };
        assert_eq!(verdict, want, "offset {offset}");
    }
    let redone = offsets(&drain(&mut after));
    assert_eq!(redone, [101, 102, 106, 107, 109]);
    for offset in redone {
        after.complete(3, offset);
    }
    assert_eq!(after.committable(3), Some(110));
    assert!(after.finished_beyond(3).is_empty());
}

#[test]
fn restored_offsets_not_yet_offered_again_are_still_committed_as_finished() {
    let mut s = scheduler(SchedulerOptions::default());
    s.restore(0, 10, &[12, 20]);
    s.offer(record(0, 10, company(1), Tier::Starter, None));
    assert_eq!(s.commit_point(0).unwrap().metadata, "f1:10:2,8");
}

#[test]
fn watermark_advances_over_offsets_never_offered() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    s.restore(0, 100, &[]);
    assert_eq!(s.committable(0), Some(100));
    // 101, 102, 104..=106 are transaction markers: never polled, never offered.
    for offset in [100, 103, 107] {
        s.offer(record(0, offset, c, Tier::Enterprise, None));
    }
    drain(&mut s);
    s.complete(0, 100);
    assert_eq!(s.committable(0), Some(103));
    s.complete(0, 107);
    assert_eq!(s.committable(0), Some(103));
    assert_eq!(s.finished_beyond(0), [107]);
    s.complete(0, 103);
    assert_eq!(s.committable(0), Some(108));
}

#[test]
fn redelivered_records_are_not_run_twice() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    for offset in 0..4 {
        s.offer(record(0, offset, c, Tier::Enterprise, None));
    }
    drain(&mut s);
    s.complete(0, 0);
    s.complete(0, 2);
    // The consumer seeks back to 0 and polls the same records again.
    let verdicts: Vec<Offered> = (0..4)
        .map(|o| s.offer(record(0, o, c, Tier::Enterprise, None)))
        .collect();
    assert_eq!(
        verdicts,
        [
            Offered::AlreadyDone,
            Offered::Duplicate,
            Offered::AlreadyDone,
            Offered::Duplicate
        ]
    );
    assert!(s.next().is_none());
}

#[test]
fn commit_metadata_too_long_drops_the_tail_so_records_are_redone_not_skipped() {
    let c = company(1);
    let mut before = scheduler(SchedulerOptions {
        metadata_max_bytes: 16,
        max_in_flight: 1000,
        max_in_flight_per_company: trestle_scheduler::PerTier {
            starter: 1000,
            professional: 1000,
            premium: 1000,
            enterprise: 1000,
        },
        ..SchedulerOptions::default()
    });
    for offset in 0..100 {
        before.offer(record(0, offset, c, Tier::Starter, None));
    }
    drain(&mut before);
    let finished: Vec<i64> = (2..100).step_by(2).collect();
    for &offset in &finished {
        before.complete(0, offset);
    }
    let commit = before.commit_point(0).unwrap();
    assert!(commit.metadata.len() <= 16, "{}", commit.metadata);
    assert_eq!(commit.offset, 0);

    let mut after = scheduler(SchedulerOptions::default());
    after.restore_from_commit(0, 0, &commit.metadata).unwrap();
    let mut skipped = Vec::new();
    for offset in 0..100 {
        if after.offer(record(0, offset, c, Tier::Starter, None)) == Offered::AlreadyDone {
            skipped.push(offset);
        }
    }
    assert!(!skipped.is_empty(), "the head of the set fits");
    assert!(skipped.len() < finished.len(), "the tail was dropped");
    assert!(skipped.iter().all(|o| finished.contains(o)), "{skipped:?}");
}

#[test]
fn unreadable_commit_metadata_redoes_rather_than_skips() {
    let mut s = scheduler(SchedulerOptions::default());
    let error = s.restore_from_commit(0, 5, "something else").unwrap_err();
    assert!(error.to_string().contains("something else"), "{error}");
    assert_eq!(s.committable(0), Some(5));
    assert_eq!(
        s.offer(record(0, 6, company(1), Tier::Starter, None)),
        Offered::Queued
    );
    s.restore_from_commit(1, 5, "").unwrap();
    assert_eq!(s.committable(1), Some(5));
}
