//! `trestle-admin price-book publish`: a price change is an event. Reads a price book from TOML,
//! checks it against the latest version on the `price-books` topic, publishes
//! `PriceBookPublished` and prints what it published (docs/billing.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{NaiveDate, TimeZone, Utc};
use clap::Subcommand;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use trestle_events::{Event, Meta, PriceBookPublished};
use trestle_kafka::{EventProducer, KafkaOptions};

/// Price-book commands.
#[derive(Subcommand)]
pub enum PriceBookCommand {
    /// Publish a new price-book version from a TOML file (see docs/price-book.example.toml).
    /// Refused unless its version is greater than, and its effective_from no earlier than,
    /// the latest version on the topic.
    Publish {
        /// The price book, TOML.
        #[arg(long)]
        file: PathBuf,
    },
    /// Print the latest published version.
    Latest,
}

/// A price book as an operator writes it. Every field is required: a price book is complete
/// or it is not published. Money in micro-USD (integers; `99_000_000` is $99).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBookFile {
    version: i32,
    /// First month it prices, the first of a month (`2026-01-01`).
    effective_from: toml::value::Datetime,
    /// Markup on AI cost beyond a tier's included allowance, basis points (5000 = +50 %).
    overage_markup_bp: i32,
    #[serde(default)]
    note: String,
    tiers: Tiers,
    unit_micro_usd: Units,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tiers {
    starter: TierPrice,
    professional: TierPrice,
    premium: TierPrice,
    enterprise: TierPrice,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierPrice {
    price_micro_usd: i64,
    included_ai_cost_micro_usd: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Units {
    notebooklm_queries: i64,
    gemini_flash_queries: i64,
    gemini_pro_queries: i64,
    document_pages: i64,
    vision_images: i64,
    speech_minutes: i64,
    tts_characters: i64,
    embedding_tokens: i64,
}

/// Runs a price-book command.
pub async fn run(kafka: &KafkaOptions, command: PriceBookCommand) -> anyhow::Result<()> {
    match command {
        PriceBookCommand::Publish { file } => {
            let book = read(&file)?;
            let latest = latest(kafka).await?;
            if let Some(latest) = &latest {
                if book.version <= latest.version {
                    bail!(
                        "version {} is not greater than the latest published version {}",
                        book.version,
                        latest.version
                    );
                }
                if book.effective_from < latest.effective_from {
                    bail!(
                        "effective_from {} is before {} of the latest version {}: a new version \
                         may not reprice months a later-starting version already prices",
                        book.effective_from.date_naive(),
                        latest.effective_from.date_naive(),
                        latest.version
                    );
                }
            }
            let event = Event::PriceBookPublished(book);
            let producer = EventProducer::new(kafka)?;
            let delivered = producer
                .publish(&event)
                .await
                .with_context(|| format!("publishing to {}", kafka.topic("price-books")))?;
            let Event::PriceBookPublished(book) = event else {
                unreachable!("built above")
            };
            println!(
                "published price book version {} to {} (partition {}, offset {})",
                book.version,
                kafka.topic("price-books"),
                delivered.partition,
                delivered.offset
            );
            print(&book);
        }
        PriceBookCommand::Latest => match latest(kafka).await? {
            Some(book) => print(&book),
            None => println!("no price book published on {}", kafka.topic("price-books")),
        },
    }
    Ok(())
}

/// Reads and validates a price-book file.
fn read(path: &Path) -> anyhow::Result<PriceBookPublished> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: PriceBookFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let date = match (file.effective_from.date, file.effective_from.time) {
        (Some(d), None) => NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into()),
        _ => None,
    }
    .with_context(|| {
        format!(
            "effective_from = {}: write a date, the first of a month (2026-01-01)",
            file.effective_from
        )
    })?;
    let effective_from = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"));
    let (t, u) = (&file.tiers, &file.unit_micro_usd);
    let book = PriceBookPublished {
        meta: Meta::platform(),
        version: file.version,
        effective_from,
        starter_price_micro_usd: t.starter.price_micro_usd,
        professional_price_micro_usd: t.professional.price_micro_usd,
        premium_price_micro_usd: t.premium.price_micro_usd,
        enterprise_price_micro_usd: t.enterprise.price_micro_usd,
        starter_included_ai_cost_micro_usd: t.starter.included_ai_cost_micro_usd,
        professional_included_ai_cost_micro_usd: t.professional.included_ai_cost_micro_usd,
        premium_included_ai_cost_micro_usd: t.premium.included_ai_cost_micro_usd,
        enterprise_included_ai_cost_micro_usd: t.enterprise.included_ai_cost_micro_usd,
        overage_markup_bp: file.overage_markup_bp,
        notebooklm_queries_unit_micro_usd: u.notebooklm_queries,
        gemini_flash_queries_unit_micro_usd: u.gemini_flash_queries,
        gemini_pro_queries_unit_micro_usd: u.gemini_pro_queries,
        document_pages_unit_micro_usd: u.document_pages,
        vision_images_unit_micro_usd: u.vision_images,
        speech_minutes_unit_micro_usd: u.speech_minutes,
        tts_characters_unit_micro_usd: u.tts_characters,
        embedding_tokens_unit_micro_usd: u.embedding_tokens,
        note: file.note,
    };
    if let Some(reason) = book.invalid() {
        bail!("{}: {reason}", path.display());
    }
    Ok(book)
}

/// The highest version on the `price-books` topic, read to its end (read_committed, manual
/// assignment: no consumer group joined, nothing committed).
async fn latest(kafka: &KafkaOptions) -> anyhow::Result<Option<PriceBookPublished>> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || latest_blocking(&kafka))
        .await
        .context("reading the price-books topic")?
}

fn latest_blocking(kafka: &KafkaOptions) -> anyhow::Result<Option<PriceBookPublished>> {
    let topic = kafka.topic("price-books");
    let timeout = Duration::from_secs(10);
    let consumer: BaseConsumer = kafka
        .consumer_config("trestle-admin-price-book")
        .create()
        .context("creating a Kafka consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), timeout)
        .with_context(|| format!("reading metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {topic} does not exist; run `trestle-admin topics`");
    }
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&topic, *p, timeout)
            .with_context(|| format!("reading the offsets of {topic}/{p}"))?;
        if high > low {
            ends.push((*p, high));
            tpl.add_partition_offset(&topic, *p, Offset::Beginning)?;
        }
    }
    if ends.is_empty() {
        return Ok(None);
    }
    consumer.assign(&tpl)?;
    let mut latest: Option<PriceBookPublished> = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = ends.iter().all(|(p, high)| {
            matches!(
                consumer.position().ok().and_then(|pos| pos
                    .find_partition(&topic, *p)
                    .map(|e| e.offset())),
                Some(Offset::Offset(o)) if o >= *high
            )
        });
        if done {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!("timed out reading {topic} to its end");
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.with_context(|| format!("reading {topic}"))?;
        let payload = message.payload().unwrap_or_default().to_vec();
        let offset = message.offset();
        drop(message);
        match trestle_events::decode(&payload) {
            Ok(Event::PriceBookPublished(book)) if book.invalid().is_none() => {
                if latest.as_ref().is_none_or(|l| book.version > l.version) {
                    latest = Some(book);
                }
            }
            Ok(other) => eprintln!("skipping {} at {topic}@{offset}", other.name()),
            Err(error) => eprintln!("skipping an undecodable record at {topic}@{offset}: {error}"),
        }
    }
    Ok(latest)
}

fn print(book: &PriceBookPublished) {
    let usd = |micro: i64| format!("${}.{:06}", micro / 1_000_000, micro % 1_000_000);
    println!(
        "version {}, effective from {}, overage at cost + {} bp{}",
        book.version,
        book.effective_from.date_naive(),
        book.overage_markup_bp,
        if book.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", book.note)
        }
    );
    for tier in trestle_events::Tier::ALL {
        if let (Some(price), Some(included)) =
            (book.tier_price(*tier), book.included_ai_cost(*tier))
        {
            println!(
                "  {:<13} {:>16} a month, {:>14} of AI cost included",
                tier.as_str(),
                usd(price),
                usd(included)
            );
        }
    }
    for meter in trestle_events::Meter::ALL {
        if let Some(price) = book.unit_price(*meter) {
            println!("  {:<22} {:>8} micro-USD a unit", meter.as_str(), price);
        }
    }
}
