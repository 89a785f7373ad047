//! Breaker states and the transitions between them that the engine publishes as events.

use std::fmt;

use serde::Serialize;
use tokio::time::Instant;

use crate::BreakerKey;

/// State of one breaker; see the crate docs for the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Calls pass; outcomes are counted in the sliding window.
    Closed,
    /// Calls are refused until the open duration has passed.
    Open,
    /// A limited number of probe calls pass; their outcomes decide between closed and open.
    HalfOpen,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        })
    }
}

/// A breaker changed state. Returned exactly once, to the caller whose `acquire` or `record`
/// caused it, so the engine can publish it as an event (`ProviderCircuitOpened`,
/// `ProviderCircuitHalfOpened` or `ProviderCircuitClosed` for `to`).
///
/// `failure_rate` and `window_calls` describe the calls that decided the transition:
///
/// | transition | calls described |
/// |---|---|
/// | closed → open | the sliding window at that moment |
/// | half-open → open | the probes recorded in this half-open round, the failed one included |
/// | half-open → closed | the probes of this round (`failure_rate` 0.0, `half_open_probes` calls) |
/// | open → half-open | the same figures as the transition that opened it |
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The breaker that changed.
    pub key: BreakerKey,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Failures / calls over the calls described above, 0.0 to 1.0.
    pub failure_rate: f64,
    /// How many calls that was.
    pub window_calls: u32,
    /// Position of this transition in its breaker's history: 1 for the first, then 2, 3, …
    /// without gaps. Transitions returned to different tasks may be published out of order;
    /// `seq` restores the order and shows a gap if one was lost.
    pub seq: u64,
    /// When it happened, on the monotonic (Tokio) clock; stamp the event's wall-clock
    /// `occurred_at` when publishing.
    pub at: Instant,
}
