//! `trestle-admin company register`: a company's sign-up by an operator, validated like the
//! admin API's `POST /v1/companies` (`trestle-tenants`), placed in its country's region by the
//! configured region table and published as `CompanyRegistered` on `tenants`.

use clap::Subcommand;
use trestle_events::Event;
use trestle_tenants::RegistrationRequest;

use crate::AdminConfig;

/// Company commands.
#[derive(Subcommand)]
pub enum CompanyCommand {
    /// Register a new company; prints its company_id and region.
    Register {
        /// Display name.
        #[arg(long)]
        name: String,
        /// ISO 3166-1 alpha-2 country code (DE, us, …); decides the region.
        #[arg(long)]
        country: String,
        /// starter, professional, premium or enterprise.
        #[arg(long)]
        tier: String,
        /// shared (the default) or dedicated (enterprise only: own cloud project and shard).
        #[arg(long)]
        isolation: Option<String>,
    },
}

/// Runs a company command.
pub async fn run(config: &AdminConfig, command: CompanyCommand) -> anyhow::Result<()> {
    match command {
        CompanyCommand::Register {
            name,
            country,
            tier,
            isolation,
        } => {
            let request = RegistrationRequest {
                name,
                country,
                tier,
                isolation,
            };
            let registered = request.into_event(&config.regions)?;
            let (company, region) = (registered.meta.company_id, registered.region);
            let event = Event::CompanyRegistered(registered);
            crate::publish(&config.kafka, &event, "the routing projector applies it").await?;
            println!("company_id {company}");
            println!("region {region}");
            Ok(())
        }
    }
}
