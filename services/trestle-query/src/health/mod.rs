//! Shard health as projected (`shard_health_companies`, `shard_health_minutes`, control
//! database; written by the shard-health projection): per shard and UTC minute, outcome counts
//! and a latency sketch, merged here into sliding windows. See docs/shard-health.md.

pub mod sketch;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{reading, Error};
pub use sketch::{Sketch, SketchMismatch};

/// Shard under which companies without a provisioned shard count.
pub const UNASSIGNED_SHARD: i32 = -1;

/// The start of the UTC minute `at` falls in.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0).expect("in range")
}

/// One shard's minute: outcome counts and the completed requests' latency sketch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Minute {
    pub completed: i64,
    pub failed: i64,
    pub throttled: i64,
    pub cached: i64,
    pub limited: i64,
    pub latency: Sketch,
}

impl Minute {
    /// Every outcome: completed + failed + throttled + cached.
    pub fn requests(&self) -> i64 {
        self.completed + self.failed + self.throttled + self.cached
    }

    /// Adds `other`'s counts and merges its sketch.
    pub fn add(&mut self, other: &Minute) -> Result<(), SketchMismatch> {
        self.completed += other.completed;
        self.failed += other.failed;
        self.throttled += other.throttled;
        self.cached += other.cached;
        self.limited += other.limited;
        self.latency.merge(&other.latency)
    }
}

/// A `shard_health_minutes` row as read back.
#[derive(Debug, sqlx::FromRow)]
pub struct MinuteRow {
    pub database_shard: i32,
    pub minute: DateTime<Utc>,
    pub completed: i64,
    pub failed: i64,
    pub throttled: i64,
    pub cached: i64,
    pub limited: i64,
    pub latency_sketch: Option<Vec<u8>>,
}

impl MinuteRow {
    /// The row's counts and decoded sketch.
    pub fn into_minute(self) -> Result<Minute, Error> {
        let latency = match &self.latency_sketch {
            Some(bytes) => Sketch::decode(bytes).map_err(|e| Error::Sketch {
                shard: self.database_shard,
                minute: self.minute,
                reason: e.to_string(),
            })?,
            None => Sketch::default(),
        };
        Ok(Minute {
            completed: self.completed,
            failed: self.failed,
            throttled: self.throttled,
            cached: self.cached,
            limited: self.limited,
            latency,
        })
    }
}

/// One shard's health over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowHealth {
    /// The window's length: the last `minutes` complete UTC minutes before the report's `now`.
    pub minutes: u32,
    /// Every outcome: completed + failed + throttled + cached.
    pub requests: i64,
    pub completed: i64,
    pub failed: i64,
    pub throttled: i64,
    pub cached: i64,
    /// Cached answers served because the whole provider chain failed (part of `cached`).
    pub limited: i64,
    /// `requests / minutes`.
    pub requests_per_minute: f64,
    /// `(failed + limited) / (requests − throttled)`; `None` when nothing was attempted.
    pub error_rate: Option<f64>,
    /// Median provider latency of completed requests, ms (within 1 %); `None` when none.
    pub p50_ms: Option<f64>,
    /// 99th percentile provider latency of completed requests, ms (within 1 %).
    pub p99_ms: Option<f64>,
    /// The merged latency sketch, for other quantiles.
    pub latency: Sketch,
}

/// One shard's health: its companies now, and each requested window.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardHealth {
    /// Shard number; [`UNASSIGNED_SHARD`] for companies without one.
    pub shard: i32,
    /// Companies the projection's map puts on the shard.
    pub companies: i64,
    /// In the order the windows were asked for.
    pub windows: Vec<WindowHealth>,
}

/// Health of every shard that has companies or outcomes in a window: for each window of
/// `windows_minutes`, the minute rows in `[minute_of(now) − window, minute_of(now))` (complete
/// minutes only: the current one is still filling) merged into counts, rates and percentiles.
pub async fn report(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    windows_minutes: &[u32],
) -> Result<Vec<ShardHealth>, Error> {
    let end = minute_of(now);
    let longest = windows_minutes.iter().copied().max().unwrap_or(0);
    let start = end - TimeDelta::minutes(i64::from(longest));
    let rows: Vec<MinuteRow> = sqlx::query_as(
        "SELECT database_shard, minute, completed, failed, throttled, cached, limited,
                latency_sketch
           FROM shard_health_minutes WHERE minute >= $1 AND minute < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await
    .map_err(reading("shard_health_minutes"))?;
    let companies: BTreeMap<i32, i64> = sqlx::query_as(
        "SELECT database_shard, count(*) FROM shard_health_companies GROUP BY database_shard",
    )
    .fetch_all(pool)
    .await
    .map_err(reading("shard_health_companies"))?
    .into_iter()
    .collect();

    let mut minutes: BTreeMap<i32, Vec<(DateTime<Utc>, Minute)>> = BTreeMap::new();
    for row in rows {
        let (shard, at) = (row.database_shard, row.minute);
        minutes
            .entry(shard)
            .or_default()
            .push((at, row.into_minute()?));
    }
    let shards: BTreeSet<i32> = companies.keys().chain(minutes.keys()).copied().collect();
    let mut out = Vec::with_capacity(shards.len());
    for shard in shards {
        let mut windows = Vec::with_capacity(windows_minutes.len());
        for &w in windows_minutes {
            let from = end - TimeDelta::minutes(i64::from(w));
            let mut total = Minute::default();
            for (at, m) in minutes.get(&shard).into_iter().flatten() {
                if *at >= from {
                    total.add(m)?;
                }
            }
            windows.push(window(w, total));
        }
        out.push(ShardHealth {
            shard,
            companies: companies.get(&shard).copied().unwrap_or(0),
            windows,
        });
    }
    Ok(out)
}

fn window(minutes: u32, m: Minute) -> WindowHealth {
    let requests = m.requests();
    let attempted = requests - m.throttled;
    WindowHealth {
        minutes,
        requests,
        completed: m.completed,
        failed: m.failed,
        throttled: m.throttled,
        cached: m.cached,
        limited: m.limited,
        requests_per_minute: if minutes == 0 {
            0.0
        } else {
            requests as f64 / f64::from(minutes)
        },
        error_rate: (attempted > 0).then(|| (m.failed + m.limited) as f64 / attempted as f64),
        p50_ms: m.latency.quantile(0.5),
        p99_ms: m.latency.quantile(0.99),
        latency: m.latency,
    }
}

/// The report as a table for people (`trestle-admin shard-health`).
pub fn render(report: &[ShardHealth]) -> String {
    let mut out = format!(
        "{:>10} {:>9} {:>7} {:>9} {:>9} {:>7} {:>9} {:>8} {:>9} {:>9}\n",
        "shard",
        "companies",
        "window",
        "req/min",
        "requests",
        "errors",
        "throttled",
        "error%",
        "p50 ms",
        "p99 ms"
    );
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
    for s in report {
        let shard = if s.shard == UNASSIGNED_SHARD {
            "unassigned".to_string()
        } else {
            s.shard.to_string()
        };
        for w in &s.windows {
            let _ = writeln!(
                out,
                "{:>10} {:>9} {:>7} {:>9.1} {:>9} {:>7} {:>9} {:>8} {:>9} {:>9}",
                shard,
                s.companies,
                format!("{}m", w.minutes),
                w.requests_per_minute,
                w.requests,
                w.failed + w.limited,
                w.throttled,
                opt(w.error_rate, &|r| format!("{:.2}", r * 100.0)),
                opt(w.p50_ms, &|v| format!("{v:.0}")),
                opt(w.p99_ms, &|v| format!("{v:.0}")),
            );
        }
    }
    out
}
