//! The tenant mix: tiers in the seed's proportions, request volume in proportion to each
//! tier's rate limit.

use trestle_events::Tier;
use trestle_tiers::TierTable;
use uuid::Uuid;

/// One simulated company.
#[derive(Debug, Clone)]
pub struct Company {
    pub id: Uuid,
    pub tier: Tier,
    pub users: u32,
}

/// Who sends how many requests.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub companies: Vec<Company>,
    /// Company index of each request, in send order.
    pub requests: Vec<usize>,
}

impl Scenario {
    /// `companies` tenants (40 % starter, 35 % professional, 20 % premium, 5 % enterprise)
    /// sending `requests` in total, each company in proportion to its tier's rate limit.
    pub fn mixed(companies: usize, requests: usize, seed: u64) -> Scenario {
        let mut rng = fastrand::Rng::with_seed(seed);
        let companies: Vec<Company> = (0..companies)
            .map(|_| {
                let roll = rng.u32(0..100);
                let tier = match roll {
                    0..=39 => Tier::Starter,
                    40..=74 => Tier::Professional,
                    75..=94 => Tier::Premium,
                    _ => Tier::Enterprise,
                };
                Company {
                    id: Uuid::now_v7(),
                    tier,
                    users: rng.u32(3..=12),
                }
            })
            .collect();
        let rates = TierTable::default().requests_per_minute();
        let tier_per_minute = |tier: Tier| *rates.get(tier.into());
        let total_weight: u32 = companies.iter().map(|c| tier_per_minute(c.tier)).sum();
        let requests = (0..requests)
            .map(|_| {
                let mut pick = rng.u32(0..total_weight.max(1));
                companies
                    .iter()
                    .position(|c| {
                        if pick < tier_per_minute(c.tier) {
                            true
                        } else {
                            pick -= tier_per_minute(c.tier);
                            false
                        }
                    })
                    .unwrap_or(0)
            })
            .collect();
        Scenario {
            companies,
            requests,
        }
    }
}
