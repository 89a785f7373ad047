//! Reading the usage projection back, per company, and printing it next to what was sent.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::scenario::{Scenario, Tier};
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

/// Waits, printing progress, until the projection counts every accepted request.
pub async fn wait_projected(
    pool: &PgPool,
    scenario: &Scenario,
    sent: &Sent,
    timeout: Duration,
) -> anyhow::Result<Vec<CompanyUsage>> {
    let want: i64 = sent.accepted.iter().map(|&n| n as i64).sum();
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
/// whose projected total differs from what was accepted for them.
pub fn print_report(
    scenario: &Scenario,
    sent: &Sent,
    usage: &[CompanyUsage],
    rows: usize,
) -> usize {
    let mismatched: Vec<usize> = (0..scenario.companies.len())
        .filter(|&i| usage[i].queries() != sent.accepted[i] as i64)
        .collect();
    println!();
    println!("Usage projection (company_ai_usage, this month) vs. requests sent");
    println!(
        "{:<12} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>10}",
        "tier", "companies", "sent", "projected", "nblm", "flash", "pro", "cost $"
    );
    for tier in [
        Tier::Starter,
        Tier::Professional,
        Tier::Premium,
        Tier::Enterprise,
    ] {
        let idx: Vec<usize> = (0..scenario.companies.len())
            .filter(|&i| scenario.companies[i].tier == tier)
            .collect();
        let sum = |f: &dyn Fn(&CompanyUsage) -> i64| idx.iter().map(|&i| f(&usage[i])).sum::<i64>();
        println!(
            "{:<12} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>10.4}",
            tier.name(),
            idx.len(),
            idx.iter().map(|&i| sent.accepted[i]).sum::<u64>(),
            sum(&|u| u.queries()),
            sum(&|u| u.notebooklm),
            sum(&|u| u.flash),
            sum(&|u| u.pro),
            sum(&|u| u.cost_micro_usd) as f64 / 1e6,
        );
    }
    let total_sent: u64 = sent.accepted.iter().sum();
    let total_projected: i64 = usage.iter().map(CompanyUsage::queries).sum();
    println!(
        "{:<12} {:>9} {:>9} {:>10}",
        "all",
        scenario.companies.len(),
        total_sent,
        total_projected
    );
    println!();
    println!(
        "{:<38} {:<12} {:>5} {:>9} {:>6} {:>6} {:>6} {:>10}  check",
        "company_id", "tier", "sent", "projected", "nblm", "flash", "pro", "cost $"
    );
    let mut order: Vec<usize> = (0..scenario.companies.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(sent.accepted[i]),
            scenario.companies[i].id,
        )
    });
    for &i in order.iter().take(rows) {
        let c = &scenario.companies[i];
        let u = &usage[i];
        let ok = if u.queries() == sent.accepted[i] as i64 {
            "ok"
        } else {
            "MISMATCH"
        };
        println!(
            "{:<38} {:<12} {:>5} {:>9} {:>6} {:>6} {:>6} {:>10.4}  {ok}",
            c.id.to_string(),
            c.tier.name(),
            sent.accepted[i],
            u.queries(),
            u.notebooklm,
            u.flash,
            u.pro,
            u.cost_micro_usd as f64 / 1e6
        );
    }
    if order.len() > rows {
        println!(
            "… {} more companies (all rows: --rows {})",
            order.len() - rows,
            order.len()
        );
    }
    println!();
    if mismatched.is_empty() {
        println!(
            "All {} companies: projected usage equals requests accepted ({} requests, {} rejected, sent in {:.1} s).",
            scenario.companies.len(),
            total_sent,
            sent.rejected,
            sent.elapsed.as_secs_f64()
        );
    } else {
        println!("{} companies differ from what was sent:", mismatched.len());
        for i in &mismatched {
            println!(
                "  {} sent {} projected {}",
                scenario.companies[*i].id,
                sent.accepted[*i],
                usage[*i].queries()
            );
        }
    }
    mismatched.len()
}
