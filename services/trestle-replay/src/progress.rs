//! Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise (logs, CI).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Always a bar.
    Bar,
    /// A plain line every few seconds.
    Lines,
    /// Nothing but warnings (undecodable records, Kafka errors).
    Off,
}

/// Seconds between two plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct Reporter {
    kind: Kind,
    total: u64,
    started: Instant,
}

enum Kind {
    Bar(ProgressBar),
    Lines { last: Instant },
    Off,
}

impl Reporter {
    /// Starts reporting progress over `total` offsets in `partitions` partitions.
    pub(crate) fn start(mode: Progress, total: u64, partitions: usize, topics: usize) -> Self {
        let mode = match mode {
            Progress::Auto if std::io::stderr().is_terminal() => Progress::Bar,
            Progress::Auto => Progress::Lines,
            other => other,
        };
        if mode != Progress::Off {
            eprintln!(
                "trestle-replay: reading up to {total} records from {partitions} partition(s) of {topics} topic(s)"
            );
        }
        let kind = match mode {
            Progress::Bar => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} records, \
                         {rate} records/s, eta {eta}",
                    )
                    .expect("the template is valid")
                    .with_key(
                        "rate",
                        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.0}", state.per_sec());
                        },
                    )
                    .progress_chars("=> "),
                );
                Kind::Bar(bar)
            }
            Progress::Lines => Kind::Lines {
                last: Instant::now(),
            },
            Progress::Auto | Progress::Off => Kind::Off,
        };
        Reporter {
            kind,
            total,
            started: Instant::now(),
        }
    }

    /// `done` offsets of the total are behind us.
    pub(crate) fn update(&mut self, done: u64) {
        match &mut self.kind {
            Kind::Bar(bar) => bar.set_position(done),
            Kind::Lines { last } if last.elapsed() >= LINE_EVERY => {
                *last = Instant::now();
                let secs = self.started.elapsed().as_secs_f64();
                let pct = if self.total == 0 {
                    100.0
                } else {
                    done as f64 * 100.0 / self.total as f64
                };
                eprintln!(
                    "trestle-replay: {done}/{} records ({pct:.0}%), {:.0} records/s, {secs:.0} s elapsed",
                    self.total,
                    done as f64 / secs.max(0.001),
                );
            }
            Kind::Lines { .. } | Kind::Off => {}
        }
    }

    /// A line for the analyst (an undecodable record, a Kafka warning), above the bar.
    pub(crate) fn note(&self, line: &str) {
        match &self.kind {
            Kind::Bar(bar) => bar.println(line),
            Kind::Lines { .. } | Kind::Off => eprintln!("{line}"),
        }
    }

    pub(crate) fn finish(self) {
        if let Kind::Bar(bar) = self.kind {
            bar.finish_and_clear();
        }
    }
}
