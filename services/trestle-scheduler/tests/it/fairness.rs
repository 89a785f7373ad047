//! Deficit round-robin: quiet companies are not starved, throughput follows the tier weights.

use std::collections::HashMap;

use trestle_scheduler::{SchedulerOptions, Tier};

use crate::support::{company, record, scheduler};

#[test]
fn quiet_company_is_served_within_one_round_while_noisy_one_floods() {
    let mut s = scheduler(SchedulerOptions::default());
    let (noisy, quiet) = (company(1), company(2));
    for offset in 0..10_000 {
        s.offer(record(0, offset, noisy, Tier::Enterprise, None));
    }
    // The noisy company runs alone for a while, completing as fast as it starts.
    for _ in 0..25 {
        let d = s.next().unwrap();
        s.complete(d.partition, d.offset);
    }
    s.offer(record(1, 0, quiet, Tier::Starter, None));
    let mut before_quiet = 0;
    loop {
        let d = s.next().unwrap();
        s.complete(d.partition, d.offset);
        if d.company == quiet {
            break;
        }
        before_quiet += 1;
    }
    // At most the rest of the noisy company's turn: its weight.
    assert!(before_quiet <= 12, "{before_quiet} records went first");
}

#[test]
fn quiet_company_is_served_at_once_when_the_noisy_one_is_at_its_cap() {
    let mut s = scheduler(SchedulerOptions::default());
    let (noisy, quiet) = (company(1), company(2));
    for offset in 0..1000 {
        s.offer(record(0, offset, noisy, Tier::Starter, None));
    }
    assert_eq!(s.next().unwrap().company, noisy);
    assert_eq!(s.next().unwrap().company, noisy);
    assert!(
        s.next().is_none(),
        "a starter company holds at most 2 slots"
    );
    s.offer(record(1, 0, quiet, Tier::Starter, None));
    assert_eq!(s.next().unwrap().company, quiet);
}

#[test]
fn weights_give_throughput_in_tier_proportion() {
    let mut s = scheduler(SchedulerOptions::default());
    let mut tier_of = HashMap::new();
    let mut offset = 0;
    for (i, tier) in Tier::ALL.iter().cycle().take(16).enumerate() {
        let c = company(i as u128);
        tier_of.insert(c, *tier);
        for _ in 0..2000 {
            s.offer(record(0, offset, c, *tier, None));
            offset += 1;
        }
    }
    let mut served: HashMap<Tier, u32> = HashMap::new();
    // 100 rounds of 4 × (1 + 3 + 6 + 12) records.
    for _ in 0..8800 {
        let d = s.next().unwrap();
        *served.entry(tier_of[&d.company]).or_default() += 1;
        s.complete(d.partition, d.offset);
    }
    let starter = f64::from(served[&Tier::Starter]);
    for (tier, weight) in [
        (Tier::Professional, 3.0),
        (Tier::Premium, 6.0),
        (Tier::Enterprise, 12.0),
    ] {
        let ratio = f64::from(served[&tier]) / starter;
        assert!(
            (ratio - weight).abs() / weight < 0.02,
            "{tier}: {ratio:.3} times starter's throughput, want {weight} ({served:?})"
        );
    }
}

#[test]
fn configured_weights_replace_the_defaults() {
    let options = SchedulerOptions {
        weights: trestle_scheduler::PerTier {
            starter: 2,
            professional: 1,
            premium: 1,
            enterprise: 1,
        },
        ..SchedulerOptions::default()
    };
    let mut s = scheduler(options);
    let (a, b) = (company(1), company(2));
    for offset in 0..100 {
        s.offer(record(0, offset, a, Tier::Starter, None));
        s.offer(record(1, offset, b, Tier::Enterprise, None));
    }
    let mut order = Vec::new();
    for _ in 0..9 {
        let d = s.next().unwrap();
        order.push(if d.company == a { 'a' } else { 'b' });
        s.complete(d.partition, d.offset);
    }
    assert_eq!(order.into_iter().collect::<String>(), "aabaabaab");
}

#[test]
fn a_tier_change_applies_to_the_companys_next_turn_and_stats() {
    let mut s = scheduler(SchedulerOptions::default());
    let c = company(1);
    s.offer(record(0, 0, c, Tier::Starter, None));
    s.offer(record(0, 1, c, Tier::Starter, None));
    assert_eq!(s.stats().queued.starter, 2);
    s.offer(record(0, 2, c, Tier::Enterprise, None));
    let stats = s.stats();
    assert_eq!((stats.queued.starter, stats.queued.enterprise), (0, 3));
    // Enterprise cap (16), not starter's (2).
    assert_eq!(crate::support::drain(&mut s).len(), 3);
}
