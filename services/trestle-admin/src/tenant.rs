//! `trestle-admin tenant move <company> --to-shard N`: moves a company's rows to another
//! database shard by replaying its usage from the log while its traffic continues
//! (`trestle_projector::moves`, docs/tenancy.md). Running it again after an interruption
//! continues the unfinished move (`TenantMoveStarted` without `TenantMoved` on the log).

use anyhow::Context;
use clap::{Args, Subcommand};
use trestle_projector::moves::{MoveReport, MoveSetup};
use uuid::Uuid;

use crate::AdminConfig;

/// Tenant commands.
#[derive(Subcommand)]
pub enum TenantCommand {
    /// Move a company to another database shard (or finish its unfinished move there).
    Move {
        company_id: Uuid,
        /// The shard to move it to, `0 .. the number of configured shards`.
        #[arg(long)]
        to_shard: i32,
        #[command(flatten)]
        options: MoveOptions,
    },
}

/// How moves run (shared with `shards rebalance --apply`).
#[derive(Args, Clone)]
pub struct MoveOptions {
    /// Name the shards' usage projectors store their offsets under (their `projector`).
    #[arg(long, default_value = "usage")]
    pub projector: String,
    /// Longest wait for a source shard's usage projector to apply what was routed to it.
    #[arg(long, default_value_t = 120_000)]
    pub source_wait_ms: u64,
}

impl MoveOptions {
    /// The move's setup from the admin configuration.
    pub fn setup(&self, config: &AdminConfig) -> MoveSetup {
        MoveSetup {
            kafka: config.kafka.clone(),
            control: config.control.clone(),
            shards: config.shards.clone(),
            projector: self.projector.clone(),
            source_wait_ms: self.source_wait_ms,
            progress: true,
        }
    }
}

/// Runs a tenant command.
pub async fn run(config: &AdminConfig, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Move {
            company_id,
            to_shard,
            options,
        } => {
            let report = move_one(config, &options, company_id, to_shard).await?;
            print_report(&report);
            Ok(())
        }
    }
}

/// Moves one company.
pub(crate) async fn move_one(
    config: &AdminConfig,
    options: &MoveOptions,
    company: Uuid,
    to_shard: i32,
) -> anyhow::Result<MoveReport> {
    trestle_projector::moves::move_tenant(&options.setup(config), company, to_shard)
        .await
        .with_context(|| format!("moving company {company} to shard {to_shard}"))
}

pub(crate) fn print_report(r: &MoveReport) {
    let moved: i64 = r.moved.values().sum();
    println!(
        "moved {} from shard {} to {} (move {}{}): {moved} usage records rebuilt from the log {:?}, digest {}",
        r.company,
        r.from_shard,
        r.to_shard,
        r.move_id,
        if r.resumed { ", continued" } else { "" },
        r.moved,
        if r.usage_digest.is_empty() { "-" } else { &r.usage_digest },
    );
}
