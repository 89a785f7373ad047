//! `trestle-admin project quotas`: each cloud project's daily provider quotas as the engines
//! enforce them (the Redis counters of `trestle-quota`) next to what the pool projection counted
//! from the log (`cloud_project_requests_daily`), and `--reconcile`, which raises a counter that
//! is below the projection (Redis lost its data) back to it. A counter above the projection is
//! left alone: it counts calls in flight, and calls redone after a crash (the provider answered
//! twice) — lowering it could let a project past its quota.

use anyhow::Context;
use trestle_query::pool;
use trestle_quota::Quotas;

use crate::AdminConfig;

/// One counter compared with the projection.
struct Row {
    project: String,
    provider: String,
    limit: u64,
    live: u64,
    projected: u64,
}

/// Prints every project's counters of `day` (default today, UTC) against the projection;
/// with `reconcile`, raises the ones below it.
pub(crate) async fn run(
    config: &AdminConfig,
    day: Option<pool::Day>,
    reconcile: bool,
) -> anyhow::Result<()> {
    let day = day.unwrap_or_else(pool::today);
    let db = trestle_store::connect(&config.control).await?;
    let redis = (config.redis.connect().await).with_context(|| {
        format!(
            "connecting to Redis at {}",
            trestle_redis::redacted(&config.redis.redis_url)
        )
    })?;
    let quotas = Quotas::new(redis, config.quotas.clone());
    let mut rows = Vec::new();
    for project in pool::projects(&db).await? {
        let projected = pool::requests_on(&db, &project.project_id, day).await?;
        for (provider, limit) in quotas.limits() {
            let count = |(p, n): &(String, i64)| (p == provider).then_some(*n as u64);
            let projected = projected.iter().find_map(count).unwrap_or(0);
            let live = quotas.used(&project.project_id, provider, day).await?;
            rows.push(Row {
                project: project.project_id.clone(),
                provider: provider.to_owned(),
                limit,
                live,
                projected,
            });
        }
    }
    println!(
        "{:<24} {:<12} {:>10} {:>10} {:>10}  {day}",
        "project", "provider", "limit", "live", "projected"
    );
    let mut raised = 0;
    for row in &mut rows {
        let mut note = String::new();
        if row.live < row.projected && reconcile {
            let (project, provider) = (&row.project, &row.provider);
            row.live = quotas
                .raise_to(project, provider, day, row.projected)
                .await?;
            note = " raised to the projection".into();
            raised += 1;
        } else if row.live < row.projected {
            note = " below the projection: run with --reconcile".into();
        }
        println!(
            "{:<24} {:<12} {:>10} {:>10} {:>10}{note}",
            row.project, row.provider, row.limit, row.live, row.projected
        );
    }
    if reconcile {
        eprintln!("{raised} counter(s) raised to the projection");
    }
    Ok(())
}
