//! `trestle-replay`: export a time range of Trestle topics as JSON Lines or CSV (see
//! `docs/replay.md`).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use serde::{Deserialize, Serialize};
use trestle_replay::{Format, Progress, ReplayOptions, Topics};
use uuid::Uuid;

/// Export events of a time range, read_committed, without joining any consumer group.
///
/// Example: trestle-replay --topic usage --from 2026-11-30 --to 2026-12-01 --company UUID
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: trestle_config::ConfigArg,
    /// A logical topic of topics.toml (usage, ai-outcomes, ...); repeat for several.
    #[arg(
        long = "topic",
        value_name = "TOPIC",
        required_unless_present = "all_topics"
    )]
    topics: Vec<String>,
    /// Every topic that carries events (all but dead-letter).
    #[arg(long, conflicts_with = "topics")]
    all_topics: bool,
    /// Start of the range, inclusive: RFC 3339 (2026-11-30T00:00:00Z) or a UTC date (2026-11-30).
    #[arg(long, value_parser = parse_time)]
    from: DateTime<Utc>,
    /// End of the range, exclusive (same forms as --from, or `now`).
    #[arg(long, value_parser = parse_time, default_value = "now")]
    to: DateTime<Utc>,
    /// Only this company: reads its partition alone and keeps only its records.
    #[arg(long, value_name = "UUID")]
    company: Option<Uuid>,
    /// Output format: jsonl (one JSON object per line) or csv.
    #[arg(long, default_value = "jsonl", value_parser = parse_format)]
    format: Format,
    /// Output file, or `-` for stdout.
    #[arg(long, short, default_value = "-")]
    output: PathBuf,
    /// Also write undecodable records, with their value in base64.
    #[arg(long)]
    include_undecodable: bool,
    /// How many minutes a record's Kafka timestamp may be from its event's occurred_at.
    #[arg(long, default_value_t = 15)]
    slack_minutes: u64,
    /// No progress on stderr (the summary is still printed).
    #[arg(long, short)]
    quiet: bool,
}

/// Configuration of the replay tool: only how to reach Kafka.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ReplayConfig {
    kafka: trestle_kafka::KafkaOptions,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if s == "now" {
        return Ok(Utc::now());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "`{s}` is not a time: use RFC 3339 (2026-11-30T00:00:00Z), a UTC date (2026-11-30) or `now`"
    ))
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trestle-replay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: ReplayConfig = args.config.load().context("loading configuration")?;
    let topics = if args.all_topics {
        Topics::All
    } else {
        Topics::Named(args.topics)
    };
    let mut options = ReplayOptions::new(config.kafka, topics, args.from, args.to);
    options.company = args.company;
    options.format = args.format;
    options.include_undecodable = args.include_undecodable;
    options.slack = Duration::from_secs(args.slack_minutes * 60);
    options.progress = if args.quiet {
        Progress::Off
    } else {
        Progress::Auto
    };

    let to_stdout = args.output.as_os_str() == "-";
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            File::create(&args.output)
                .with_context(|| format!("creating {}", args.output.display()))?,
        )
    };
    match trestle_replay::replay(options, &mut out).await {
        Ok(summary) => {
            eprint!("{summary}");
            Ok(())
        }
        // `trestle-replay ... | head`: the reader of stdout has all it wanted.
        Err(trestle_replay::Error::Write { source })
            if to_stdout && source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(())
        }
        // The message already carries its causes and what to do next.
        Err(error) => Err(anyhow::Error::msg(error.to_string())),
    }
}
