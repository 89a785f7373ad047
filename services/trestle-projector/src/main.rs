//! `trestle-projector`: runs the configured projection, exactly once; `rebuild` rebuilds it
//! from offset zero into a fresh schema, compares and optionally swaps (docs/rebuild.md).

use anyhow::Context;
use clap::{Parser, Subcommand};
use trestle_projector::{RebuildMode, RebuildOptions};

/// Projects the configured projection's topics into PostgreSQL.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Rebuilds the configured projection from offset 0 into a fresh schema and compares it
    /// with the live tables (per-company hash of rows); with --swap, swaps it in.
    /// Exit status 1 when the tables differ and were not swapped.
    Rebuild {
        /// Compare only (the default): report and drop the rebuilt schema.
        #[arg(long, conflicts_with = "swap")]
        compare_only: bool,
        /// Swap the rebuilt tables in when they equal the live ones.
        #[arg(long)]
        swap: bool,
        /// With --swap: swap even when they differ (after fixing a projection bug).
        #[arg(long, requires = "swap")]
        force: bool,
        /// Keep the rebuilt schema when it is not swapped in.
        #[arg(long)]
        keep: bool,
        /// How long the swap may wait for readers of the live tables, in milliseconds.
        #[arg(long, default_value_t = 5_000)]
        swap_lock_timeout_ms: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_projector::ProjectorConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("projector", &config.telemetry).context("starting telemetry")?;
    match args.command {
        None => {
            tracing::info!(message = "Projector starting.", projection = ?config.projection, group = %config.group_id);
            trestle_projector::run(config, trestle_telemetry::shutdown_signal()).await
        }
        Some(Command::Rebuild {
            compare_only: _,
            swap,
            force,
            keep,
            swap_lock_timeout_ms,
        }) => {
            let options = RebuildOptions {
                mode: if swap {
                    RebuildMode::Swap { force }
                } else {
                    RebuildMode::CompareOnly
                },
                keep,
                progress: true,
                swap_lock_timeout_ms,
            };
            let report = trestle_projector::rebuild(&config, &options)
                .await
                .context("rebuilding the projection")?;
            println!(
                "rebuilt {} records into {}; {} groups compared; {} differ",
                report.records,
                report.schema,
                report.groups_compared,
                report.differences.len()
            );
            for d in &report.differences {
                let company = d
                    .company_id
                    .map_or("(all rows)".to_string(), |c| c.to_string());
                println!(
                    "  {} company {company}: live {} rows {}, rebuilt {} rows {}",
                    d.table, d.live.0, d.live.1, d.rebuilt.0, d.rebuilt.1
                );
            }
            match &report.swapped {
                Some(s) => {
                    println!(
                        "swapped in; the replaced tables are in {}.\n\
                         To roll back: stop the projector, run the SQL below as the owning role, start it.\n{}\
                         Once the new tables are trusted, drop what is left:\n{}",
                        s.replaced_schema, s.rollback_sql, s.drop_sql
                    );
                    Ok(())
                }
                None if report.equal() => Ok(()),
                None => {
                    if swap {
                        println!("not swapped: the tables differ (use --force to swap anyway)");
                    }
                    std::process::exit(1)
                }
            }
        }
    }
}
