//! The benchmark's report: Markdown on stdout, ready for `docs/benchmarks.md`.

use std::time::Duration;

use crate::copy::Copied;
use crate::environment::{self, Environment};
use crate::probe::TableSize;
use crate::service::{Firing, Projection};

/// Everything one run measured.
pub(crate) struct Report {
    pub timers: usize,
    pub companies: usize,
    pub partitions: i32,
    pub fire_batch: i64,
    pub window_days: i64,
    pub env: Environment,
    /// Resident memory when the run began, KiB.
    pub rss_at_start_kib: u64,
    pub publish_rate: f64,
    pub copy: Copied,
    pub projection: Projection,
    pub firing: Firing,
    /// Raw producer, the event only / the event and a `TimerFired`.
    pub raw_event: Duration,
    pub raw_event_and_fired: Duration,
    pub whole_run: Duration,
}

fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn kib_as_mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl Report {
    fn rate(&self, d: Duration) -> f64 {
        self.timers as f64 / d.as_secs_f64()
    }

    pub(crate) fn print(&self) {
        println!();
        println!(
            "## Timers benchmark: {} timers, {} companies, {} partitions, due over {} days, fire batch {}",
            self.timers, self.companies, self.partitions, self.window_days, self.fire_batch
        );
        println!();
        for (label, value) in &self.env.0 {
            println!("- {label}: {value}");
        }
        println!("- load average at end: {}", environment::load_average());
        println!("- whole run: {:.0} s", self.whole_run.as_secs_f64());
        println!(
            "- TimerScheduled events published once at {:.0} events/s",
            self.publish_rate
        );
        self.print_rates();
        self.print_storage();
    }

    fn print_rates(&self) {
        let (p, f) = (&self.projection, &self.firing);
        let b = self.fire_batch;
        println!();
        println!("| measurement | wall time | timers/s |");
        println!("|---|---:|---:|");
        let rows = [
            ("1. raw binary COPY of the same rows into a copy of `timers` (owner, one statement; primary key and partial index)".to_string(), self.copy.elapsed),
            ("2. timers projection, exactly once (`apply_timers`): from `run` to every timer in the table".to_string(), p.elapsed),
            (format!("3. raw producer: each timer's event, acks awaited every {b} timers"), self.raw_event),
            (format!("4. raw producer: each timer's event and a `TimerFired` (the firer's two records), acks awaited every {b} timers"), self.raw_event_and_fired),
            ("5. firer: from moving the clock past every due time to every timer marked fired".to_string(), f.elapsed),
        ];
        for (label, wall) in rows {
            println!("| {label} | {} | {:.0} |", secs(wall), self.rate(wall));
        }
        let quarters: Vec<String> = f.quarters.iter().map(|r| format!("{r:.0}")).collect();
        println!();
        println!(
            "Projection: first batch after {}. Firing: first event after {}; timers/s by quarter of the timers: {}; the projection had folded every `TimerFired` {} after the last timer fired; {} extra deliveries, {} timers fired early.",
            p.to_first.map_or("-".into(), secs),
            f.to_first.map_or("-".into(), secs),
            quarters.join(" / "),
            f.fired_folded_after.map_or("(not within the timeout)".into(), secs),
            f.extra_deliveries,
            f.early,
        );
        println!();
        println!("| ratio | value |");
        println!("|---|---:|");
        let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
        println!(
            "| projection / raw COPY | {:.3} |",
            ratio(p.elapsed, self.copy.elapsed)
        );
        println!(
            "| fire rate / raw producer, event only | {:.3} |",
            ratio(f.elapsed, self.raw_event)
        );
        println!(
            "| fire rate / raw producer, event and `TimerFired` (context) | {:.3} |",
            ratio(f.elapsed, self.raw_event_and_fired)
        );
    }

    fn print_storage(&self) {
        let n = self.timers as f64;
        let (p, f) = (&self.projection, &self.firing);
        let size = |s: &TableSize| {
            format!(
                "{} (heap {}, primary key {}, pending-due index {})",
                mib(s.total),
                mib(s.heap),
                mib(s.pkey),
                mib(s.pending_index)
            )
        };
        println!();
        println!("| storage and memory | value |");
        println!("|---|---:|");
        println!(
            "| `timers` with every timer pending: `pg_total_relation_size` | {} |",
            size(&p.size)
        );
        println!(
            "| **bytes per pending timer** (total ÷ timers) | **{:.0}** |",
            p.size.total as f64 / n
        );
        println!(
            "| mean row as stored (`pg_column_size`), of which the event | {:.0} B, {:.0} B |",
            p.size.mean_row, p.size.mean_event
        );
        println!(
            "| the COPY baseline's table (same rows, fresh) | {} ({:.0} B per timer; COPY stream {}) |",
            mib(self.copy.table_bytes),
            self.copy.table_bytes as f64 / n,
            mib(self.copy.stream_bytes as i64)
        );
        println!(
            "| `timers` after firing (dead row versions {}, autovacuum runs {}) | {} |",
            f.size.dead_rows,
            f.size.autovacuums,
            size(&f.size)
        );
        println!(
            "| resident memory of the benchmark process (service included): at start / before the service | {} / {} |",
            kib_as_mib(self.rss_at_start_kib),
            kib_as_mib(p.rss.start_kib)
        );
        println!(
            "| ... projecting: largest / with every timer pending | {} / {} |",
            kib_as_mib(p.rss.max_kib),
            kib_as_mib(p.rss.end_kib)
        );
        println!(
            "| ... firing: largest / when every timer had fired | {} / {} |",
            kib_as_mib(f.rss.max_kib),
            kib_as_mib(f.rss.end_kib)
        );
    }
}
