//! In-flight caps: global and per company by tier.

use trestle_scheduler::{PerTier, SchedulerOptions, Tier};

use crate::support::{company, drain, record, scheduler};

#[test]
fn global_in_flight_cap_is_never_exceeded() {
    let mut s = scheduler(SchedulerOptions {
        max_in_flight: 10,
        ..SchedulerOptions::default()
    });
    let mut offset = 0;
    for c in 0..20 {
        for _ in 0..5 {
            s.offer(record(0, offset, company(c), Tier::Enterprise, None));
            offset += 1;
        }
    }
    let first = drain(&mut s);
    assert_eq!(first.len(), 10);
    assert_eq!(s.in_flight(), 10);
    for d in &first[..3] {
        s.complete(d.partition, d.offset);
    }
    assert_eq!(drain(&mut s).len(), 3);
    assert_eq!(s.in_flight(), 10);
    assert!(s.next().is_none());
}

#[test]
fn a_company_at_its_cap_leaves_the_slots_to_others() {
    let caps = PerTier {
        starter: 1,
        professional: 2,
        premium: 3,
        enterprise: 4,
    };
    let mut s = scheduler(SchedulerOptions {
        max_in_flight_per_company: caps,
        ..SchedulerOptions::default()
    });
    let mut offset = 0;
    for (c, tier) in Tier::ALL.into_iter().enumerate() {
        for _ in 0..100 {
            s.offer(record(0, offset, company(c as u128), tier, None));
            offset += 1;
        }
    }
    let dispatched = drain(&mut s);
    let stats = s.stats();
    assert_eq!(dispatched.len(), 10);
    for tier in Tier::ALL {
        assert_eq!(
            *stats.in_flight.get(tier),
            *caps.get(tier) as usize,
            "{tier}"
        );
    }
    assert_eq!(stats.companies_waiting, 0);
    assert_eq!(stats.companies_active, 4);
}

#[test]
fn invalid_options_are_refused_with_the_field_named() {
    let cases: [(&str, SchedulerOptions); 3] = [
        (
            "max_in_flight",
            SchedulerOptions {
                max_in_flight: 0,
                ..SchedulerOptions::default()
            },
        ),
        (
            "weights",
            SchedulerOptions {
                weights: PerTier::default(),
                ..SchedulerOptions::default()
            },
        ),
        (
            "resume_buffered_per_partition",
            SchedulerOptions {
                resume_buffered_per_partition: 1000,
                ..SchedulerOptions::default()
            },
        ),
    ];
    for (field, options) in cases {
        match options.build::<()>() {
            Err(trestle_scheduler::Error::InvalidOption { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}
