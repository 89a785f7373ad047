//! Revocation: queued records are dropped, in-flight ones handed back and harmless later.

use trestle_scheduler::{Completed, InFlight, Offered, SchedulerOptions, Tier};

use crate::support::{company, drain, offsets, record, scheduler};

#[test]
fn revoked_partition_drops_queued_records_and_late_completions_are_harmless() {
    let mut s = scheduler(SchedulerOptions::default());
    let (a, b) = (company(1), company(2));
    for offset in 0..4 {
        s.offer(record(0, offset, a, Tier::Starter, None));
        s.offer(record(1, offset, b, Tier::Starter, None));
    }
    let started = drain(&mut s);
    assert_eq!(started.len(), 4, "two each");

    let in_flight = s.revoke(0);
    assert_eq!(
        in_flight,
        [0, 1].map(|offset| InFlight {
            partition: 0,
            offset,
            company: a,
            ordering_key: None
        })
    );
    assert_eq!(s.buffered(0), 0);
    assert_eq!(s.committable(0), None);
    assert_eq!(s.stats().queued_total(), 2, "partition 1's");
    assert_eq!(
        s.in_flight(),
        4,
        "revoked records hold their slots until completed"
    );

    assert_eq!(s.complete(0, 0), Completed::Revoked);
    assert_eq!(s.complete(0, 0), Completed::Unknown);
    assert_eq!(s.complete(0, 1), Completed::Revoked);
    assert_eq!(s.complete(0, 99), Completed::Unknown);
    assert_eq!(s.complete(7, 0), Completed::Unknown);
    assert_eq!(s.committable(0), None, "late completions record no offset");
    assert!(s.revoke(0).is_empty(), "revoking twice is harmless");

    for offset in [0, 1] {
        s.complete(1, offset);
    }
    let rest = drain(&mut s);
    assert!(rest.iter().all(|d| d.partition == 1));
    assert_eq!(offsets(&rest), [2, 3]);
    for offset in [2, 3] {
        s.complete(1, offset);
    }
    assert_eq!(s.committable(1), Some(4));
    let stats = s.stats();
    assert_eq!((stats.queued_total(), stats.in_flight_total()), (0, 0));
    assert_eq!(stats.companies_active, 0, "idle companies are forgotten");
}

#[test]
fn a_revoked_record_keeps_its_ordering_key_until_completed() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    s.offer(record(0, 10, c, Tier::Premium, Some("job")));
    s.offer(record(1, 20, c, Tier::Premium, Some("job")));
    s.offer(record(0, 11, c, Tier::Premium, Some("job")));
    assert_eq!(offsets(&drain(&mut s)), [10]);
    s.revoke(0);
    assert!(s.next().is_none(), "offset 10 may still be running");
    assert_eq!(s.complete(0, 10), Completed::Revoked);
    assert_eq!(offsets(&drain(&mut s)), [20]);
    s.complete(1, 20);
    assert!(s.next().is_none(), "offset 11 was dropped with partition 0");
}

#[test]
fn a_partition_assigned_again_resumes_from_its_commit() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    for offset in 0..4 {
        s.offer(record(0, offset, c, Tier::Enterprise, Some("job")));
    }
    assert_eq!(offsets(&drain(&mut s)), [0]);
    let commit = s.commit_point(0).unwrap();
    s.revoke(0);
    s.restore_from_commit(0, commit.offset, &commit.metadata)
        .unwrap();
    for offset in 0..4 {
        let verdict = s.offer(record(0, offset, c, Tier::Enterprise, Some("job")));
        assert_eq!(verdict, Offered::Queued);
    }
    assert!(
        s.next().is_none(),
        "the revoked run of offset 0 holds the key"
    );
    assert_eq!(s.complete(0, 0), Completed::Revoked);
    assert_eq!(s.committable(0), Some(0), "the old run records no offset");
    // Redoing is safe, skipping is not: offset 0 runs again, then the rest in order.
    for offset in 0..4 {
        assert_eq!(offsets(&drain(&mut s)), [offset]);
        assert_eq!(s.complete(0, offset), Completed::Finished);
    }
    assert_eq!(s.committable(0), Some(4));
}
