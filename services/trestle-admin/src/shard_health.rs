//! `trestle-admin shard-health`: per database shard, companies, requests per minute, error
//! rate and provider latency percentiles over the last complete minutes (docs/shard-health.md).

use trestle_store::PostgresOptions;

/// Prints the report for each window length (1 to 1,440 minutes: minutes are kept a day).
pub async fn run(control: &PostgresOptions, window_minutes: &[u32]) -> anyhow::Result<()> {
    anyhow::ensure!(
        window_minutes.iter().all(|w| (1..=1440).contains(w)),
        "a window is 1 to 1440 minutes (minutes are kept for a day)"
    );
    let db = trestle_store::connect(control).await?;
    let report = trestle_query::health::report(&db, chrono::Utc::now(), window_minutes).await?;
    print!("{}", trestle_query::health::render(&report));
    Ok(())
}
