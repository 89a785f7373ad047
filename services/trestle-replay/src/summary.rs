//! What a replay read and wrote, for the closing report and for tests.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

pub use crate::read::Stop;

/// How many undecodable records the summary lists by position (all are counted).
pub const UNDECODABLE_LISTED: usize = 10;

/// The outcome of a replay.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The `group.id` set on the replay's client because librdkafka wants one. It is never
    /// joined (partitions are assigned by hand) and nothing is committed to it.
    pub consumer_group: String,
    /// Every partition looked at, in the order read.
    pub partitions: Vec<PartitionStats>,
    /// Topics `--all-topics` left out, with the reason.
    pub skipped_topics: Vec<String>,
    /// Records delivered by Kafka (committed records inside the offset ranges).
    pub records_read: u64,
    /// Events written to the output.
    pub events_written: u64,
    /// Events written, per event type.
    pub events_by_type: BTreeMap<String, u64>,
    /// Records of other companies sharing the company's partition (`--company`).
    pub other_companies: u64,
    /// Decoded events whose `occurred_at` is outside `[from, to)`.
    pub outside_range: u64,
    /// Records that could not be decoded (written to the output only with
    /// `--include-undecodable`).
    pub undecodable: u64,
    /// The first [`UNDECODABLE_LISTED`] undecodable records.
    pub undecodable_records: Vec<UndecodableRecord>,
    /// Earliest and latest record timestamp read.
    pub timestamps: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Earliest and latest `occurred_at` of the events written.
    pub occurred: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Wall time of the whole replay, lookups included.
    pub elapsed: Duration,
}

/// One partition's share of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStats {
    /// Physical topic name.
    pub topic: String,
    pub partition: i32,
    /// First offset read.
    pub start_offset: i64,
    /// End offset captured at start (exclusive).
    pub end_offset: i64,
    pub records_read: u64,
    pub events_written: u64,
    /// Why reading stopped; `None` only if the replay failed first.
    pub stop: Option<Stop>,
}

/// Where an undecodable record is, and why it could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndecodableRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub error: String,
}

impl fmt::Display for UndecodableRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} partition {} offset {}: {}",
            self.topic, self.partition, self.offset, self.error
        )
    }
}

impl Summary {
    /// Records read per second of wall time.
    pub fn records_per_second(&self) -> f64 {
        self.records_read as f64 / self.elapsed.as_secs_f64().max(1e-6)
    }

    pub(crate) fn saw_timestamp(&mut self, t: DateTime<Utc>) {
        widen(&mut self.timestamps, t);
    }

    pub(crate) fn saw_occurred(&mut self, t: DateTime<Utc>) {
        widen(&mut self.occurred, t);
    }
}

fn widen(range: &mut Option<(DateTime<Utc>, DateTime<Utc>)>, t: DateTime<Utc>) {
    *range = Some(match *range {
        None => (t, t),
        Some((lo, hi)) => (lo.min(t), hi.max(t)),
    });
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "trestle-replay summary")?;
        let mut per_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for p in &self.partitions {
            per_topic.entry(&p.topic).or_default().push(p.partition);
        }
        for (topic, partitions) in &per_topic {
            let list = if partitions.len() <= 6 {
                let l: Vec<String> = partitions.iter().map(i32::to_string).collect();
                format!("partition {}", l.join(", "))
            } else {
                format!("{} partitions", partitions.len())
            };
            writeln!(f, "  read            {topic}: {list}")?;
        }
        for skipped in &self.skipped_topics {
            writeln!(f, "  skipped topic   {skipped}")?;
        }
        writeln!(
            f,
            "  records read    {} in {:.2} s ({:.0} records/s)",
            self.records_read,
            self.elapsed.as_secs_f64(),
            self.records_per_second()
        )?;
        writeln!(f, "  events written  {}", self.events_written)?;
        for (name, count) in &self.events_by_type {
            writeln!(f, "    {name:<26} {count}")?;
        }
        if self.other_companies > 0 {
            writeln!(
                f,
                "  other companies {} records of other companies in the same partition",
                self.other_companies
            )?;
        }
        if self.outside_range > 0 {
            writeln!(
                f,
                "  outside range   {} events whose occurred_at is outside [from, to)",
                self.outside_range
            )?;
        }
        writeln!(f, "  undecodable     {}", self.undecodable)?;
        for bad in &self.undecodable_records {
            writeln!(f, "    {bad}")?;
        }
        if self.undecodable > self.undecodable_records.len() as u64 {
            writeln!(
                f,
                "    ... and {} more (all were written to stderr)",
                self.undecodable - self.undecodable_records.len() as u64
            )?;
        }
        match self.timestamps {
            Some((lo, hi)) => writeln!(f, "  record times    {} .. {}", stamp(lo), stamp(hi))?,
            None => writeln!(f, "  record times    (no record in range)")?,
        }
        if let Some((lo, hi)) = self.occurred {
            writeln!(f, "  occurred_at     {} .. {}", stamp(lo), stamp(hi))?;
        }
        Ok(())
    }
}
