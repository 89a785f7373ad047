//! `trestle-admin keys issue|revoke`: a company's API keys for server-to-server callers
//! (`trestle-apikeys`). Issuing publishes `ApiKeyIssued` and stores the key's row in the
//! control database's `api_keys`, then prints the key once; revoking publishes `ApiKeyRevoked`
//! and marks the row, which ingest sees within its `[auth] api_key_cache_ms`.

use anyhow::Context;
use clap::Subcommand;
use trestle_apikeys::Scope;
use trestle_kafka::EventProducer;
use uuid::Uuid;

use crate::AdminConfig;

/// API key commands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Issue a key to a registered company; prints it once (only its hash is stored).
    Issue {
        /// The company id.
        company_id: Uuid,
        /// Comma-separated scopes: ai:write, ai:read, jobs:write, jobs:read, usage:read,
        /// billing:read (never admin).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<Scope>,
        /// Who issues it (recorded in the event).
        #[arg(long, default_value = "")]
        by: String,
    },
    /// Revoke a key by its id (the 16 hex digits after `tk_`).
    Revoke {
        key_id: String,
        /// Who revokes it (recorded in the event).
        #[arg(long, default_value = "")]
        by: String,
        /// Why (recorded in the event).
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// Runs a keys command.
pub async fn run(config: &AdminConfig, command: KeysCommand) -> anyhow::Result<()> {
    let pool = trestle_store::connect(&config.control).await?;
    let producer = EventProducer::new(&config.kafka)?;
    match command {
        KeysCommand::Issue {
            company_id,
            scopes,
            by,
        } => {
            trestle_query::routing::lookup(&pool, company_id)
                .await?
                .with_context(|| format!("company {company_id} is not registered (no tenant routing): register it first"))?;
            let new = trestle_apikeys::issue(&producer, &pool, company_id, &scopes, &by)
                .await
                .with_context(|| format!("issuing an API key to company {company_id}"))?;
            eprintln!(
                "issued API key {} to company {company_id} with scopes {}; it is shown once, keep it secret:",
                new.event.key_id,
                new.event.scopes.join(" ")
            );
            println!("{}", new.key);
        }
        KeysCommand::Revoke { key_id, by, reason } => {
            match trestle_apikeys::revoke(&producer, &pool, &key_id, &by, &reason)
                .await
                .with_context(|| format!("revoking API key {key_id}"))?
            {
                trestle_apikeys::Revoked::Now { company_id } => println!(
                    "revoked API key {key_id} of company {company_id}; ingest refuses it within its api_key_cache_ms"
                ),
                trestle_apikeys::Revoked::Already { company_id, at } => println!(
                    "API key {key_id} of company {company_id} was revoked already, at {at}"
                ),
            }
        }
    }
    Ok(())
}
