//! `trestle-timers`: the timer service (timers projection + firer), on the configured clock.

use anyhow::Context;
use clap::Parser;

/// Folds scheduled and cancelled timers into the control database and fires due ones.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: trestle_timers::TimersConfig =
        args.config.load().context("loading configuration")?;
    trestle_telemetry::init("timers", &config.telemetry).context("starting telemetry")?;
    let clock = trestle_timers::Clock::from_options(&config.clock);
    tracing::info!(message = "Timer service starting.", clock = ?clock, group = %config.group_id);
    trestle_timers::run(config, clock, trestle_telemetry::shutdown_signal())
        .await
        .context("running the timer service")?;
    Ok(())
}
