//! What the engine makes of one polled record before scheduling it: a valid request (with
//! its company and ordering key) or a dead letter with the reason.

use trestle_events::{AiRequestSubmitted, Event};

use crate::chains::Chains;

/// A record as consumed, detached from the consumer (so the consumer can be closed while it
/// waits in the scheduler).
use trestle_kafka::OwnedRecord as InRecord;

/// Decodes and validates a record of `ai-requests`: a submitted request, keyed by its company,
/// of a kind that has a provider chain.
pub(crate) fn validate(record: &InRecord, chains: &Chains) -> Result<AiRequestSubmitted, String> {
    let payload = record.payload.as_deref().ok_or("record has no value")?;
    let event = trestle_events::decode(payload).map_err(|e| e.to_string())?;
    let Event::AiRequestSubmitted(submitted) = event else {
        return Err(format!(
            "{} does not belong on the ai-requests topic",
            event.name()
        ));
    };
    let expected = trestle_kafka::company_key(&submitted.meta.company_id);
    match record.key.as_deref() {
        Some(key) if key == expected.as_bytes() => {}
        Some(key) => {
            return Err(format!(
                "record key {:?} is not the event's company_id {expected}",
                String::from_utf8_lossy(key)
            ))
        }
        None => return Err(format!("record has no key; expected company_id {expected}")),
    }
    if chains.for_kind(submitted.kind).is_none() {
        return Err(format!(
            "request kind {:?} has no provider chain",
            submitted.kind
        ));
    }
    Ok(submitted)
}
