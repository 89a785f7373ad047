//! Circuit breaker transitions as `providers` events, for the session's next commit.

use trestle_breaker::{State, Transition};
use trestle_events::{
    Event, Meta, ProviderCircuitClosed, ProviderCircuitHalfOpened, ProviderCircuitOpened,
};

/// The `providers` event of a breaker transition: opened (from closed or a failed probe),
/// half-opened (open time over, probing) or closed.
pub(super) fn transition_event(t: &Transition) -> Event {
    trestle_telemetry::breaker_transition(
        &t.key.provider,
        match t.to {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        },
    );
    let region = t
        .key
        .region
        .parse()
        .unwrap_or(trestle_events::Region::Unknown);
    // The three events carry the same fields.
    macro_rules! circuit_event {
        ($variant:ident) => {
            Event::$variant($variant {
                meta: Meta::platform(),
                provider: t.key.provider.clone(),
                cloud_project_id: t.key.cloud_project.clone(),
                region,
                failure_rate: t.failure_rate,
                window_calls: t.window_calls as i32,
            })
        };
    }
    match t.to {
        State::HalfOpen => circuit_event!(ProviderCircuitHalfOpened),
        State::Closed => circuit_event!(ProviderCircuitClosed),
        State::Open => circuit_event!(ProviderCircuitOpened),
    }
}
