//! `trestle-admin`: parses the command line and configuration and runs the command
//! (`trestle_admin::run`; one module per command).

use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = trestle_admin::Args::parse();
    let config: trestle_admin::AdminConfig = args.config.load().context("loading configuration")?;
    trestle_admin::run(&config, args.command).await
}
