//! Bad input decodes to the right `Error` variant, never a panic.

use trestle_events::{decode, encode, fingerprint, Error};

use crate::samples;

fn header(fp: u64) -> Vec<u8> {
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&fp.to_le_bytes());
    bytes
}

fn valid() -> Vec<u8> {
    let submitted = samples::full()
        .into_iter()
        .find(|e| e.name() == "AiRequestSubmitted")
        .expect("a sample AiRequestSubmitted");
    encode(&submitted).unwrap()
}

#[derive(Debug)]
enum Expect {
    NotSingleObject,
    UnknownFingerprint(u64),
    Body(&'static str),
    TrailingBytes(usize),
}

fn check(case: &str, bytes: &[u8], expect: Expect) {
    let err = decode(bytes).expect_err(case);
    let ok = match (&err, &expect) {
        (Error::NotSingleObject { .. }, Expect::NotSingleObject) => true,
        (Error::UnknownFingerprint { fingerprint }, Expect::UnknownFingerprint(fp)) => {
            fingerprint == fp
        }
        (Error::Body { event, .. }, Expect::Body(name)) => event == name,
        (Error::TrailingBytes { count, .. }, Expect::TrailingBytes(n)) => count == n,
        _ => false,
    };
    assert!(ok, "{case}: expected {expect:?}, got {err:?} ({err})");
}

#[test]
fn decode_reports_bad_input_with_the_right_variant() {
    let known = fingerprint("AiRequestSubmitted").unwrap();
    let valid = valid();
    let mut trailing = valid.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    let mut huge_string = header(known);
    huge_string.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    let mut negative_length = header(known);
    negative_length.push(0x01);

    check("empty", &[], Expect::NotSingleObject);
    check("one byte", &[0xC3], Expect::NotSingleObject);
    check("marker only", &[0xC3, 0x01], Expect::NotSingleObject);
    check(
        "nine-byte header",
        &header(known)[..9],
        Expect::NotSingleObject,
    );
    check(
        "JSON text",
        br#"{"event_id":"x","company_id":"y"}"#,
        Expect::NotSingleObject,
    );
    check(
        "wrong second marker byte",
        &[&[0xC3, 0x02][..], &valid[2..]].concat(),
        Expect::NotSingleObject,
    );
    check(
        "confluent framing",
        &[&[0x00, 0, 0, 0, 7][..], &valid[10..]].concat(),
        Expect::NotSingleObject,
    );
    check(
        "unknown fingerprint",
        &[&header(0x0123_4567_89ab_cdef)[..], &valid[10..]].concat(),
        Expect::UnknownFingerprint(0x0123_4567_89ab_cdef),
    );
    check(
        "header without body",
        &header(known),
        Expect::Body("AiRequestSubmitted"),
    );
    check(
        "truncated body",
        &valid[..valid.len() - 1],
        Expect::Body("AiRequestSubmitted"),
    );
    check(
        "string length of 2^56",
        &huge_string,
        Expect::Body("AiRequestSubmitted"),
    );
    check(
        "negative string length",
        &negative_length,
        Expect::Body("AiRequestSubmitted"),
    );
    // The Avro library reads a missing trailing union index as null; we must not.
    let throttled = encode(&samples::sparse()[3]).unwrap();
    assert_eq!(
        throttled.last(),
        Some(&0),
        "ends with the null branch of retry_after_ms"
    );
    check(
        "cut before a trailing optional field",
        &throttled[..throttled.len() - 1],
        Expect::Body("AiRequestThrottled"),
    );
    check("trailing bytes", &trailing, Expect::TrailingBytes(3));
}

#[test]
fn decode_never_panics_on_truncated_or_corrupted_records() {
    for event in samples::all() {
        let bytes = encode(&event).unwrap();
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "{} truncated to {len} decoded",
                event.name()
            );
        }
        for i in 10..bytes.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut corrupt = bytes.clone();
                corrupt[i] ^= flip;
                let _ = decode(&corrupt); // may decode to another value; must not panic
            }
        }
    }
}

#[test]
fn errors_name_the_event_and_the_cause() {
    let valid = valid();
    let err = decode(&valid[..valid.len() - 1]).unwrap_err();
    assert!(err.to_string().contains("AiRequestSubmitted"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    let err = decode(&header(7)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no known schema has CRC-64-AVRO fingerprint 0x0000000000000007"
    );
}
