//! The shard rebalancing planner, pure: from each company's shard and load, the moves that
//! bring the shards' company counts and request loads within a threshold of each other (the
//! seed's 20 %), fewest-first and greedy.
//!
//! Imbalance of one measure is `(max - min) / max` over the shards (0 when all are 0): 0.2
//! means the lightest shard carries 20 % less than the heaviest. Each step takes the worse
//! measure, and from its heaviest shard moves to its lightest the one company that lowers the
//! worse of the two imbalances most; it stops when both are within the threshold or no single
//! move improves. A company moves at most once per plan; dedicated companies (own shard) never.

use uuid::Uuid;

/// The seed's threshold: shards differing by more than 20 % are rebalanced.
pub const THRESHOLD: f64 = 0.20;

/// One company as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanyLoad {
    pub company: Uuid,
    pub shard: i32,
    /// Its request load (this month's AI queries).
    pub requests: i64,
    /// Whether it may move (a dedicated company may not).
    pub movable: bool,
}

/// A proposed move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub company: Uuid,
    pub from: i32,
    pub to: i32,
    pub requests: i64,
}

/// Per shard: (companies, requests).
pub type Loads = Vec<(i64, i64)>;

/// The shards' loads, `0 .. shards`; companies on other shards are left out.
pub fn loads(shards: i32, companies: &[CompanyLoad]) -> Loads {
    let mut loads = vec![(0, 0); shards.max(0) as usize];
    for c in companies {
        if let Some(l) = loads.get_mut(c.shard as usize) {
            l.0 += 1;
            l.1 += c.requests;
        }
    }
    loads
}

/// `(max - min) / max` of one measure over the shards.
pub fn imbalance(values: impl Iterator<Item = i64> + Clone) -> f64 {
    let max = values.clone().max().unwrap_or(0);
    let min = values.min().unwrap_or(0);
    if max <= 0 {
        0.0
    } else {
        (max - min) as f64 / max as f64
    }
}

/// (company-count imbalance, request imbalance).
pub fn imbalances(loads: &Loads) -> (f64, f64) {
    (
        imbalance(loads.iter().map(|l| l.0)),
        imbalance(loads.iter().map(|l| l.1)),
    )
}

/// The moves, in the order to run them.
pub fn plan(shards: i32, companies: &[CompanyLoad], threshold: f64) -> Vec<Move> {
    let mut loads = loads(shards, companies);
    let mut moved = vec![false; companies.len()];
    let mut moves = Vec::new();
    if loads.len() < 2 {
        return moves;
    }
    loop {
        let (by_count, by_requests) = imbalances(&loads);
        let score = by_count.max(by_requests);
        if by_count <= threshold && by_requests <= threshold {
            return moves;
        }
        let measure = |l: &(i64, i64)| if by_count >= by_requests { l.0 } else { l.1 };
        let from = (0..loads.len())
            .max_by_key(|&s| (measure(&loads[s]), s))
            .unwrap_or(0);
        let to = (0..loads.len())
            .min_by_key(|&s| (measure(&loads[s]), s))
            .unwrap_or(0);
        let mut best: Option<(f64, usize)> = None;
        for (i, c) in companies.iter().enumerate() {
            if moved[i] || !c.movable || c.shard as usize != from {
                continue;
            }
            let mut after = loads.clone();
            after[from].0 -= 1;
            after[from].1 -= c.requests;
            after[to].0 += 1;
            after[to].1 += c.requests;
            let (a, b) = imbalances(&after);
            let s = a.max(b);
            if best.is_none_or(|(bs, _)| s < bs) {
                best = Some((s, i));
            }
        }
        match best {
            Some((s, i)) if s < score - 1e-12 => {
                let c = &companies[i];
                moved[i] = true;
                loads[from].0 -= 1;
                loads[from].1 -= c.requests;
                loads[to].0 += 1;
                loads[to].1 += c.requests;
                moves.push(Move {
                    company: c.company,
                    from: from as i32,
                    to: to as i32,
                    requests: c.requests,
                });
            }
            _ => return moves,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn companies(spec: &[(i32, i64)]) -> Vec<CompanyLoad> {
        spec.iter()
            .map(|&(shard, requests)| CompanyLoad {
                company: Uuid::now_v7(),
                shard,
                requests,
                movable: true,
            })
            .collect()
    }

    fn after(shards: i32, companies: &[CompanyLoad], moves: &[Move]) -> Loads {
        let moved: Vec<CompanyLoad> = companies
            .iter()
            .map(|c| match moves.iter().find(|m| m.company == c.company) {
                Some(m) => CompanyLoad {
                    shard: m.to,
                    ..c.clone()
                },
                None => c.clone(),
            })
            .collect();
        loads(shards, &moved)
    }

    #[test]
    fn balanced_shards_need_no_moves() {
        let cs = companies(&[(0, 10), (0, 10), (1, 10), (1, 9)]);
        assert_eq!(plan(2, &cs, THRESHOLD), vec![]);
    }

    #[test]
    fn too_many_companies_on_one_shard_move_to_the_lightest() {
        // 9 companies on shard 0, 3 on shard 1, none on shard 2; equal load each.
        let mut spec = vec![(0, 5); 9];
        spec.extend([(1, 5); 3]);
        let cs = companies(&spec);
        let moves = plan(3, &cs, THRESHOLD);
        assert!(moves.iter().all(|m| m.from == 0));
        let (by_count, by_requests) = imbalances(&after(3, &cs, &moves));
        assert!(
            by_count <= THRESHOLD && by_requests <= THRESHOLD,
            "{moves:?}"
        );
        assert_eq!(moves.len(), 5, "9/3/0 -> 4/4/4 is the fewest");
    }

    #[test]
    fn a_hot_shard_with_even_counts_moves_load_until_no_single_move_helps() {
        // Same company counts; shard 0's companies ask four times as much.
        let mut spec = vec![(0, 400); 5];
        spec.extend(vec![(1, 100); 5]);
        let cs = companies(&spec);
        let moves = plan(2, &cs, THRESHOLD);
        assert!(!moves.is_empty());
        let loads = after(2, &cs, &moves);
        let (by_count, by_requests) = imbalances(&loads);
        // Counts 5/5 cannot stay even while load moves one company at a time (it plans moves,
        // not swaps): it takes the best single moves, here one heavy company, and stops.
        assert!(
            by_requests < imbalances(&super::loads(2, &cs)).1,
            "{loads:?}"
        );
        assert!(by_count.max(by_requests) < 0.75, "{loads:?}");
        assert_eq!(moves.len(), 1);
    }

    #[test]
    fn dedicated_companies_never_move() {
        let mut cs = companies(&[(0, 100); 6]);
        for c in &mut cs {
            c.movable = false;
        }
        cs.extend(companies(&[(1, 1)]));
        assert_eq!(plan(2, &cs, THRESHOLD), vec![]);
    }

    #[test]
    fn imbalance_is_the_lightest_shards_shortfall_against_the_heaviest() {
        assert_eq!(imbalance([10, 8].into_iter()), 0.2);
        assert_eq!(imbalance([0, 0].into_iter()), 0.0);
        assert_eq!(imbalance([10, 0, 5].into_iter()), 1.0);
    }
}
