//! `trestle-admin shards rebalance --plan | --apply`: proposes moves of companies between
//! database shards when their company counts or request loads differ by more than 20 %
//! (`rebalance::plan`), and runs them one after another (`tenant move`).

use anyhow::Context;
use clap::Subcommand;
use trestle_query::routing;

use crate::rebalance::{self, CompanyLoad, Move};
use crate::tenant::{self, MoveOptions};
use crate::AdminConfig;

/// Shard commands.
#[derive(Subcommand)]
pub enum ShardsCommand {
    /// Plan (and with --apply run) the moves that bring the shards within the threshold.
    Rebalance {
        /// Print the plan only (the default).
        #[arg(long, conflicts_with = "apply")]
        plan: bool,
        /// Run the planned moves, in order.
        #[arg(long)]
        apply: bool,
        /// Largest allowed imbalance, `(max - min) / max` of companies or requests.
        #[arg(long, default_value_t = rebalance::THRESHOLD)]
        threshold: f64,
        #[command(flatten)]
        options: MoveOptions,
    },
}

/// Runs a shard command.
pub async fn run(config: &AdminConfig, command: ShardsCommand) -> anyhow::Result<()> {
    match command {
        ShardsCommand::Rebalance {
            plan: _,
            apply,
            threshold,
            options,
        } => {
            let companies = company_loads(config).await?;
            let shards = config.shards.len() as i32;
            let moves = rebalance::plan(shards, &companies, threshold);
            print_plan(shards, &companies, &moves);
            if apply {
                for m in &moves {
                    let report = tenant::move_one(config, &options, m.company, m.to).await?;
                    tenant::print_report(&report);
                }
            }
            Ok(())
        }
    }
}

/// Every provisioned company (tenant_routing) with this month's AI queries (its shard's
/// company_ai_usage, read as the tenant: one indexed read per company).
async fn company_loads(config: &AdminConfig) -> anyhow::Result<Vec<CompanyLoad>> {
    let control = trestle_store::connect(&config.control).await?;
    let routes = routing::provisioned(&control).await?;
    control.close().await;
    let mut shards = Vec::new();
    for options in &config.shards {
        shards.push(trestle_store::connect(options).await?);
    }
    let now = chrono::Utc::now();
    let mut companies = Vec::with_capacity(routes.len());
    for route in routes {
        let shard = route.database_shard.unwrap_or(-1);
        let requests = match shards.get(shard as usize) {
            Some(pool) => trestle_query::usage::monthly(pool, route.company_id, now)
                .await
                .with_context(|| format!("reading the usage of {}", route.company_id))?
                .queries(),
            None => 0,
        };
        companies.push(CompanyLoad {
            company: route.company_id,
            shard,
            requests,
            movable: route.isolation_level.as_deref() != Some("dedicated"),
        });
    }
    for pool in shards {
        pool.close().await;
    }
    Ok(companies)
}

fn print_plan(shards: i32, companies: &[CompanyLoad], moves: &[Move]) {
    let before = rebalance::loads(shards, companies);
    let mut after = before.clone();
    for m in moves {
        after[m.from as usize].0 -= 1;
        after[m.from as usize].1 -= m.requests;
        after[m.to as usize].0 += 1;
        after[m.to as usize].1 += m.requests;
    }
    println!(
        "{:<6} {:>10} {:>12} {:>10} {:>12}",
        "shard", "companies", "requests", "→ companies", "→ requests"
    );
    for s in 0..before.len() {
        println!(
            "{s:<6} {:>10} {:>12} {:>10} {:>12}",
            before[s].0, before[s].1, after[s].0, after[s].1
        );
    }
    let (c0, r0) = rebalance::imbalances(&before);
    let (c1, r1) = rebalance::imbalances(&after);
    println!(
        "imbalance: companies {:.0} % → {:.0} %, requests {:.0} % → {:.0} %",
        c0 * 100.0,
        c1 * 100.0,
        r0 * 100.0,
        r1 * 100.0
    );
    if moves.is_empty() {
        println!("no moves");
    }
    for m in moves {
        println!(
            "move {} from shard {} to {} ({} requests this month)",
            m.company, m.from, m.to, m.requests
        );
    }
}
