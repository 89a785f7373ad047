//! How each simulated provider behaves, changeable at run time; the simulator's shared state.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::notebooks::{NotebookBehaviour, Notebooks};

/// The behaviour of one simulated provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// Base latency of every answer.
    pub latency_ms: u64,
    /// Uniform extra latency, 0..=jitter_ms.
    pub jitter_ms: u64,
    /// Fraction (0.0–1.0) of calls answered 503.
    pub failure_rate: f64,
    /// Every call answers 503 (an outage).
    pub down: bool,
    /// Calls per minute before answering 429 with `Retry-After`; 0 = unlimited.
    pub rate_limit_per_minute: u32,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            latency_ms: 20,
            jitter_ms: 10,
            failure_rate: 0.0,
            down: false,
            rate_limit_per_minute: 0,
        }
    }
}

/// What the simulator decided for one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Answer { after: Duration },
    Fail { after: Duration },
    RateLimited { retry_after: Duration },
}

#[derive(Default)]
struct State {
    behaviours: BTreeMap<String, Behaviour>,
    /// Per provider: start of the current minute window and calls in it.
    windows: HashMap<String, (Instant, u32)>,
    calls: BTreeMap<String, u64>,
}

/// Shared simulator state; cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    default: Behaviour,
    state: Arc<Mutex<State>>,
    notebooks: Arc<Mutex<Notebooks>>,
}

impl Simulator {
    /// A simulator of these providers whose notebook service has the default behaviour.
    pub fn new(default: Behaviour, providers: BTreeMap<String, Behaviour>) -> Self {
        Simulator::with_notebooks(
            default,
            providers,
            NotebookBehaviour::default(),
            BTreeMap::new(),
        )
    }

    /// A simulator of these providers and of a notebook service behaving as `notebooks` in
    /// every cloud project without an entry in `notebook_projects`.
    pub fn with_notebooks(
        default: Behaviour,
        providers: BTreeMap<String, Behaviour>,
        notebooks: NotebookBehaviour,
        notebook_projects: BTreeMap<String, NotebookBehaviour>,
    ) -> Self {
        Simulator {
            default,
            state: Arc::new(Mutex::new(State {
                behaviours: providers,
                ..State::default()
            })),
            notebooks: Arc::new(Mutex::new(Notebooks::new(notebooks, notebook_projects))),
        }
    }

    pub(crate) fn notebooks(&self) -> Arc<Mutex<Notebooks>> {
        self.notebooks.clone()
    }

    /// The behaviour in force for `provider`.
    pub fn behaviour(&self, provider: &str) -> Behaviour {
        let state = self.state.lock().expect("simulator state lock");
        state
            .behaviours
            .get(provider)
            .cloned()
            .unwrap_or_else(|| self.default.clone())
    }

    /// Replaces `provider`'s behaviour.
    pub fn set(&self, provider: &str, behaviour: Behaviour) {
        let mut state = self.state.lock().expect("simulator state lock");
        state.behaviours.insert(provider.to_string(), behaviour);
        state.windows.remove(provider);
    }

    /// Calls answered so far, per provider.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.state
            .lock()
            .expect("simulator state lock")
            .calls
            .clone()
    }

    /// Decides the fate of one call to `provider`.
    pub fn decide(&self, provider: &str) -> Verdict {
        let b = self.behaviour(provider);
        let mut state = self.state.lock().expect("simulator state lock");
        *state.calls.entry(provider.to_string()).or_default() += 1;
        if b.rate_limit_per_minute > 0 {
            let now = Instant::now();
            let window = state
                .windows
                .entry(provider.to_string())
                .or_insert((now, 0));
            if now.duration_since(window.0) >= Duration::from_secs(60) {
                *window = (now, 0);
            }
            if window.1 >= b.rate_limit_per_minute {
                let retry_after =
                    Duration::from_secs(60).saturating_sub(now.duration_since(window.0));
                return Verdict::RateLimited { retry_after };
            }
            window.1 += 1;
        }
        let after = Duration::from_millis(b.latency_ms + fastrand::u64(0..=b.jitter_ms));
        if b.down || fastrand::f64() < b.failure_rate {
            Verdict::Fail { after }
        } else {
            Verdict::Answer { after }
        }
    }
}
