//! The registry: one independent breaker per (provider, cloud project, region).

use std::collections::BTreeMap;

use trestle_breaker::{BreakerKey, BreakerOptions, Breakers, BreakersOptions, Outcome, State};

use crate::{breakers, call, options, trip};

#[tokio::test(start_paused = true)]
async fn breakers_are_independent_per_provider_project_region() {
    let breakers = breakers(options());
    let tripped = BreakerKey::new("gemini", "project-1", "eu");
    let others = [
        BreakerKey::new("gemini", "project-1", "us"),
        BreakerKey::new("gemini", "project-2", "eu"),
        BreakerKey::new("openai", "project-1", "eu"),
    ];
    // Every key but one sees 9 failures: one short of opening.
    for key in &others {
        for _ in 0..9 {
            assert_eq!(call(&breakers, key, Outcome::Failure), None);
        }
    }
    trip(&breakers, &tripped);

    assert_eq!(breakers.state(&tripped), Some(State::Open));
    assert!(!breakers.acquire(&tripped).is_granted());
    for key in &others {
        assert_eq!(breakers.state(key), Some(State::Closed), "{key}");
        assert!(breakers.acquire(key).is_granted(), "{key}");
    }
    assert_eq!(
        breakers.state(&BreakerKey::new("whisper", "project-1", "eu")),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn providers_use_their_own_options() {
    let breakers = Breakers::new(BreakersOptions {
        default: options(),
        providers: BTreeMap::from([(
            "notebooklm".to_owned(),
            BreakerOptions {
                minimum_calls: 2,
                ..options()
            },
        )]),
    })
    .unwrap();
    let notebooklm = BreakerKey::new("notebooklm", "project-1", "eu");
    let gemini = BreakerKey::new("gemini", "project-1", "eu");
    for key in [&notebooklm, &gemini] {
        assert_eq!(call(&breakers, key, Outcome::Failure), None);
    }
    assert!(call(&breakers, &notebooklm, Outcome::Failure).is_some());
    assert_eq!(call(&breakers, &gemini, Outcome::Failure), None);
}
