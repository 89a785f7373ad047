//! `trestle-admin migrate`: the control migrations on the control database, the shard
//! migrations on every configured shard database.

use anyhow::Context;
use trestle_store::redact;

use crate::AdminConfig;

/// Migrates the control database, then each shard in order.
pub async fn run(config: &AdminConfig) -> anyhow::Result<()> {
    let control = &config.control;
    trestle_store::migrate_control(control)
        .await
        .with_context(|| format!("migrating {}", redact(&control.owner_url)))?;
    println!("migrated {}", redact(&control.owner_url));
    for shard in &config.shards {
        trestle_store::migrate_shard(shard)
            .await
            .with_context(|| format!("migrating {}", redact(&shard.owner_url)))?;
        println!("migrated {}", redact(&shard.owner_url));
    }
    Ok(())
}
