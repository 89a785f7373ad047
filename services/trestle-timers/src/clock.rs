//! The timer service's clock: the wall clock in production; a controllable one — in this
//! process (`Clock::manual`) or in a file any process can write (`source = "file"`) — for tests
//! and the demo, so time can be advanced ("time travel") for timers and workflows without
//! waiting for it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Where the time comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockOptions {
    pub source: ClockSource,
    /// With `source = "file"`: a file holding the current time as RFC 3339 (e.g.
    /// `2026-12-02T10:00:00Z`), re-read at every check; `trestle-admin clock set|advance`
    /// writes it. Missing or unreadable: the wall clock, with a warning.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    #[default]
    Wall,
    File,
}

/// A clock: cheap to clone.
#[derive(Debug, Clone)]
pub enum Clock {
    Wall,
    File(PathBuf),
    Manual(ManualClock),
}

/// A clock that moves only when told to; waiters are woken when it does.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    moved: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
            moved: watch::Sender::new(start),
        }
    }

    /// Moves the clock forward (never back).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by.max(chrono::Duration::zero());
        self.moved.send_replace(*now);
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock {
    pub fn from_options(options: &ClockOptions) -> Clock {
        match (&options.source, &options.file) {
            (ClockSource::File, Some(path)) => Clock::File(path.clone()),
            (ClockSource::File, None) => {
                tracing::warn!(
                    message = "clock.source = \"file\" without clock.file; using the wall clock."
                );
                Clock::Wall
            }
            (ClockSource::Wall, _) => Clock::Wall,
        }
    }

    pub fn manual(start: DateTime<Utc>) -> (Clock, ManualClock) {
        let manual = ManualClock::new(start);
        (Clock::Manual(manual.clone()), manual)
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Wall => Utc::now(),
            Clock::Manual(m) => m.now(),
            Clock::File(path) => read_file_clock(path).unwrap_or_else(|reason| {
                tracing::warn!(message = "Cannot read the clock file; using the wall clock.", path = %path.display(), %reason);
                Utc::now()
            }),
        }
    }

    /// A manual clock's moves, to wake a waiter at once; `None` for the others (the service
    /// polls them).
    pub fn watch(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        match self {
            Clock::Manual(m) => Some(m.moved.subscribe()),
            _ => None,
        }
    }
}

/// The time in a clock file.
pub fn read_file_clock(path: &std::path::Path) -> Result<DateTime<Utc>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{:?} is not an RFC 3339 time: {e}", text.trim()))
}

/// Writes a clock file atomically (a temporary file renamed over it), so a reader never sees
/// half a time.
pub fn write_file_clock(path: &std::path::Path, at: DateTime<Utc>) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, at.to_rfc3339())?;
    std::fs::rename(tmp, path)
}
