//! `trestle-admin topics`: bring the broker in line with `topics.toml` (create missing topics,
//! add partitions) and print what changed.

use std::path::Path;

use anyhow::Context;
use trestle_kafka::topics::{self, Change};
use trestle_kafka::KafkaOptions;

/// Applies the compiled-in `topics.toml`, or `file`.
pub async fn run(kafka: &KafkaOptions, file: Option<&Path>) -> anyhow::Result<()> {
    let specs = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            topics::parse(&text)?
        }
        None => topics::builtin(),
    };
    let changes = topics::apply(kafka, &specs)
        .await
        .context("applying topics.toml")?;
    for (name, change) in changes {
        let what = match change {
            Change::Created { partitions } => format!("created, {partitions} partitions"),
            Change::PartitionsAdded { from, to } => format!("partitions {from} -> {to}"),
            Change::Unchanged { partitions } => format!("up to date, {partitions} partitions"),
            Change::CannotShrink { broker, file } => format!(
                "WARNING: broker has {broker} partitions, file asks {file}; Kafka cannot remove partitions"
            ),
        };
        println!("{name:<32} {what}");
    }
    Ok(())
}
