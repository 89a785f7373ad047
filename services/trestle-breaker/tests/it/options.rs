//! Options: documented defaults, TOML shape, and rejection of typos and bad values.

use trestle_breaker::{BreakerOptions, Breakers, BreakersOptions, Error};

#[test]
fn defaults_are_as_documented() {
    let defaults = BreakerOptions::default();
    assert_eq!(
        defaults,
        BreakerOptions {
            window_ms: 60_000,
            window_buckets: 10,
            minimum_calls: 20,
            failure_rate_threshold: 0.5,
            slow_call_ms: None,
            open_duration_ms: 30_000,
            max_open_duration_ms: 300_000,
            half_open_probes: 3,
        }
    );
    assert_eq!(
        toml::from_str::<BreakersOptions>("").unwrap(),
        BreakersOptions::default()
    );
    Breakers::new(BreakersOptions::default()).unwrap();
}

#[test]
fn parses_per_provider_options_from_toml() {
    let options: BreakersOptions = toml::from_str(
        r#"
        [default]
        minimum_calls = 50

        [providers.notebooklm]
        open_duration_ms = 60000
        slow_call_ms = 20000
        "#,
    )
    .unwrap();
    assert_eq!(options.for_provider("gemini").minimum_calls, 50);
    let notebooklm = options.for_provider("notebooklm");
    assert_eq!(notebooklm.open_duration_ms, 60_000);
    assert_eq!(notebooklm.slow_call_ms, Some(20_000));
    // A provider block replaces the default block; unset fields are the built-in defaults.
    assert_eq!(notebooklm.minimum_calls, 20);
    // And it round-trips.
    let again: BreakersOptions = toml::from_str(&toml::to_string(&options).unwrap()).unwrap();
    assert_eq!(again, options);
}

#[test]
fn rejects_unknown_fields() {
    for typo in [
        "[default]\nopen_duration_secs = 30",
        "[providers.gemini]\nhalf_open_probe = 2",
        "windows_ms = 1000",
    ] {
        let error = toml::from_str::<BreakersOptions>(typo).unwrap_err();
        assert!(
            error.to_string().contains("unknown field"),
            "{typo}: {error}"
        );
    }
}

#[test]
fn rejects_out_of_range_options() {
    type Spoil = fn(&mut BreakerOptions);
    let cases: [(&str, Spoil); 10] = [
        ("window_buckets", |o| o.window_buckets = 0),
        ("window_buckets", |o| o.window_buckets = 1_001),
        ("window_ms", |o| o.window_ms = 9),
        ("minimum_calls", |o| o.minimum_calls = 0),
        ("failure_rate_threshold", |o| o.failure_rate_threshold = 0.0),
        ("failure_rate_threshold", |o| o.failure_rate_threshold = 1.5),
        ("failure_rate_threshold", |o| {
            o.failure_rate_threshold = f64::NAN
        }),
        ("slow_call_ms", |o| o.slow_call_ms = Some(0)),
        ("max_open_duration_ms", |o| {
            o.max_open_duration_ms = o.open_duration_ms - 1
        }),
        ("half_open_probes", |o| o.half_open_probes = 0),
    ];
    for (field, spoil) in cases {
        let mut bad = BreakerOptions::default();
        spoil(&mut bad);
        let mut options = BreakersOptions::default();
        options.providers.insert("gemini".to_owned(), bad);
        let error = Breakers::new(options).unwrap_err();
        let Error::InvalidOptions {
            scope,
            field: named,
            ..
        } = &error;
        assert_eq!(scope, "providers.gemini");
        assert_eq!(*named, field, "{error}");
    }
}
