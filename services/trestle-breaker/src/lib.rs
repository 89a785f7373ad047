//! Circuit breakers for AI providers, one per (provider, cloud project, region), each
//! reporting every change of state so the engine can publish it as an event.
//!
//! The engine asks [`Breakers::acquire`] before each provider call. A [`Permit::Granted`]
//! carries a [`Ticket`]: make the call, then hand the ticket to [`Breakers::record`] with the
//! [`Outcome`]. A [`Permit::Refused`] means: do not call this provider from this cloud
//! project and region now; take the next provider in the chain, or the cached answer.
//!
//! # State machine
//!
//! ```text
//!                     failure rate ≥ failure_rate_threshold
//!                     over ≥ minimum_calls calls in the window
//!        ┌────────┐ ───────────────────────────────────────────▶ ┌──────┐
//!  ───▶  │ Closed │                                              │ Open │ ◀──────────┐
//!        └────────┘ ◀───────────┐                                └──────┘            │
//!                               │                                   │                │
//!                               │ all half_open_probes       open_duration_ms    any probe
//!                               │ probes succeed             passed; the next    fails (open
//!                               │ (window cleared)           acquire             time doubles,
//!                               │                                   ▼            up to max)
//!                               │                             ┌───────────┐          │
//!                               └──────────────────────────── │ Half-open │ ─────────┘
//!                                                             └───────────┘
//! ```
//!
//! - **Closed**: every call is granted. Outcomes go into a sliding window of `window_ms`,
//!   kept in `window_buckets` buckets so memory per breaker is fixed. After each outcome, if
//!   the window holds at least `minimum_calls` calls and failures / calls ≥
//!   `failure_rate_threshold`, the breaker opens. A success that took `slow_call_ms` or
//!   longer counts as a failure.
//! - **Open**: every call is refused, with the time left. The first acquire after the open
//!   duration moves it to half-open and is granted as its first probe.
//! - **Half-open**: at most `half_open_probes` probes are granted; the rest are refused.
//!   When that many probes have succeeded the breaker closes with an empty window; the first
//!   failed probe opens it again, for twice the previous open duration (capped at
//!   `max_open_duration_ms`; closing resets it).
//!
//! States change only inside `acquire` (open → half-open) and `record` (the others), so
//! nothing happens to an idle breaker: an open breaker nobody asks for stays open.
//!
//! # Transitions
//!
//! Each change of state produces one [`Transition`], returned to the one caller whose
//! `acquire` or `record` made it: in [`Permit::Granted::transition`] or as `record`'s return
//! value. None is lost or returned twice; [`Transition::seq`] numbers them per breaker so
//! transitions published from different tasks can be put back in order.
//!
//! # Tickets
//!
//! A ticket dropped without being recorded is *released*: it counts neither way, and a
//! half-open probe slot it held is freed. A ticket granted before the breaker last changed
//! state is stale, and recording it changes nothing. See [`Ticket`].

mod circuit;
mod error;
mod key;
mod options;
mod registry;
mod ticket;
mod transition;
mod window;

pub use error::Error;
pub use key::BreakerKey;
pub use options::{BreakerOptions, BreakersOptions};
pub use registry::Breakers;
pub use ticket::{Outcome, Permit, Ticket};
pub use transition::{State, Transition};
