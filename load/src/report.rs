//! Reading the usage projection back, per company, and printing it next to what was sent.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use trestle_events::Tier;

use crate::outcomes::Outcomes;
use crate::scenario::Scenario;
use crate::send::Sent;

/// One company's monthly usage row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyUsage {
    pub notebooklm: i64,
    pub flash: i64,
    pub pro: i64,
    pub cost_micro_usd: i64,
}

impl CompanyUsage {
    pub fn queries(&self) -> i64 {
        self.notebooklm + self.flash + self.pro
    }
}

/// Every company's monthly usage, read as that tenant (row-level security applies).
pub async fn read_usage(pool: &PgPool, scenario: &Scenario) -> anyhow::Result<Vec<CompanyUsage>> {
    let mut out = Vec::with_capacity(scenario.companies.len());
    for c in &scenario.companies {
        let mut tx = trestle_store::begin_for_tenant(pool, c.id).await?;
        let row: Option<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT notebooklm_queries, gemini_flash_queries, gemini_pro_queries, total_cost_micro_usd
               FROM company_ai_usage
              WHERE period_type = 'monthly' AND period_start = date_trunc('month', now() AT TIME ZONE 'UTC')::date",
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let (notebooklm, flash, pro, cost_micro_usd) = row.unwrap_or_default();
        out.push(CompanyUsage {
            notebooklm,
            flash,
            pro,
            cost_micro_usd,
        });
    }
    Ok(out)
}

/// Waits, printing progress, until the projection counts every answered (billed) request.
pub async fn wait_projected(
    pool: &PgPool,
    scenario: &Scenario,
    outcomes: &[Outcomes],
    timeout: Duration,
) -> anyhow::Result<Vec<CompanyUsage>> {
    let want: i64 = outcomes.iter().map(|o| o.answered as i64).sum();
    let deadline = Instant::now() + timeout;
    loop {
        let usage = read_usage(pool, scenario).await?;
        let have: i64 = usage.iter().map(CompanyUsage::queries).sum();
        eprintln!("  projected {have}/{want} requests");
        if have >= want || Instant::now() > deadline {
            return Ok(usage);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Prints the per-tier summary and the per-company table; returns the number of companies
/// whose outcomes do not match what was accepted (one each) or whose projected usage differs
/// from what was answered.
pub fn print_report(
    scenario: &Scenario,
    sent: &Sent,
    outcomes: &[Outcomes],
    usage: &[CompanyUsage],
    rows: usize,
) -> usize {
    let ok = |i: usize| {
        outcomes[i].total() == sent.accepted[i] && usage[i].queries() == outcomes[i].answered as i64
    };
    let mismatched: Vec<usize> = (0..scenario.companies.len()).filter(|&i| !ok(i)).collect();
    println!();
    println!("Outcomes (ai-outcomes) and usage projection (company_ai_usage, this month) vs. requests sent");
    let header = |first: &str| {
        println!(
            "{first:<38} {:<12} {:>6} {:>8} {:>8} {:>6} {:>9} {:>6} {:>9} {:>10}",
            "tier",
            "sent",
            "answered",
            "degraded",
            "cache",
            "throttled",
            "failed",
            "projected",
            "cost $"
        )
    };
    header("");
    let line = |first: &str, tier: &str, idx: &[usize]| {
        let o = |f: &dyn Fn(&Outcomes) -> u64| idx.iter().map(|&i| f(&outcomes[i])).sum::<u64>();
        let u = |f: &dyn Fn(&CompanyUsage) -> i64| idx.iter().map(|&i| f(&usage[i])).sum::<i64>();
        println!(
            "{first:<38} {tier:<12} {:>6} {:>8} {:>8} {:>6} {:>9} {:>6} {:>9} {:>10.4}",
            idx.iter().map(|&i| sent.accepted[i]).sum::<u64>(),
            o(&|o| o.answered),
            o(&|o| o.degraded),
            o(&|o| o.from_cache),
            o(&|o| o.throttled),
            o(&|o| o.failed),
            u(&|u| u.queries()),
            u(&|u| u.cost_micro_usd) as f64 / 1e6,
        );
    };
    for tier in [
        Tier::Starter,
        Tier::Professional,
        Tier::Premium,
        Tier::Enterprise,
    ] {
        let idx: Vec<usize> = (0..scenario.companies.len())
            .filter(|&i| scenario.companies[i].tier == tier)
            .collect();
        line(&format!("{} companies", idx.len()), tier.as_str(), &idx);
    }
    let all: Vec<usize> = (0..scenario.companies.len()).collect();
    line("all", "", &all);
    println!();
    header("company_id");
    let mut order: Vec<usize> = (0..scenario.companies.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(sent.accepted[i]),
            scenario.companies[i].id,
        )
    });
    for &i in order.iter().take(rows) {
        let c = &scenario.companies[i];
        line(&c.id.to_string(), c.tier.as_str(), &[i]);
    }
    if order.len() > rows {
        println!(
            "… {} more companies (all rows: --rows {})",
            order.len() - rows,
            order.len()
        );
    }
    println!();
    print_verdict(scenario, sent, outcomes, usage, &mismatched);
    mismatched.len()
}

/// The last line: all companies exact, or the ones that differ and by how much.
fn print_verdict(
    scenario: &Scenario,
    sent: &Sent,
    outcomes: &[Outcomes],
    usage: &[CompanyUsage],
    mismatched: &[usize],
) {
    let total_sent: u64 = sent.accepted.iter().sum();
    if mismatched.is_empty() {
        println!(
            "All {} companies: one outcome per accepted request, and projected usage equals the answers billed ({} requests, {} rejected, sent in {:.1} s).",
            scenario.companies.len(),
            total_sent,
            sent.rejected,
            sent.elapsed.as_secs_f64()
        );
    } else {
        println!("{} companies differ:", mismatched.len());
        for &i in mismatched {
            println!(
                "  {} sent {} outcomes {} answered {} projected {}",
                scenario.companies[i].id,
                sent.accepted[i],
                outcomes[i].total(),
                outcomes[i].answered,
                usage[i].queries()
            );
        }
    }
}
