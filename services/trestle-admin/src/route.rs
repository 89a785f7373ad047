//! `trestle-admin route <company>`: a company's tenant routing, read from the control database.

use anyhow::Context;
use trestle_store::PostgresOptions;
use uuid::Uuid;

/// Prints the company's route, or fails when nothing of it was projected yet.
pub async fn run(control: &PostgresOptions, company_id: Uuid) -> anyhow::Result<()> {
    let pool = trestle_store::connect(control).await?;
    let route = trestle_query::routing::lookup(&pool, company_id)
        .await?
        .with_context(|| {
            format!("no routing for company {company_id} (not registered or provisioned yet)")
        })?;
    let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows = [
        ("company", Some(route.company_id.to_string())),
        ("name", route.name),
        ("tier", route.tier),
        ("region", route.region),
        (
            "database_shard",
            route.database_shard.map(|s| s.to_string()),
        ),
        ("cloud_project", route.cloud_project_id),
        ("isolation_level", route.isolation_level),
        ("kb_notebook", route.kb_notebook_id),
        ("registered_at", route.registered_at.map(|t| t.to_rfc3339())),
        (
            "provisioned_at",
            route.provisioned_at.map(|t| t.to_rfc3339()),
        ),
    ];
    for (name, value) in rows {
        println!("{name:<16} {}", show(value));
    }
    Ok(())
}
