//! What the engine makes of one consumed record: the events to publish, or a dead letter.

use trestle_events::{
    AiRequestCompleted, AiRequestFailed, AiRequestSubmitted, Event, Meta, UsageRecorded,
};

use crate::pricing::{PriceBook, Route};
use crate::provider::ProviderClient;

/// A record as consumed, detached from the consumer.
#[derive(Debug, Clone)]
pub(crate) struct InRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

/// What to do with a consumed record.
#[derive(Debug)]
pub(crate) enum Action {
    /// Publish these events (in this order) in the batch's transaction.
    Publish(Vec<Event>),
    /// The record is not a valid request: send it to the dead-letter topic with this reason.
    DeadLetter(String),
}

/// Decodes and validates a record of `ai-requests`.
pub(crate) fn validate(record: &InRecord) -> Result<AiRequestSubmitted, String> {
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
    if Route::for_kind(submitted.kind).is_none() {
        return Err(format!(
            "request kind {:?} has no provider route",
            submitted.kind
        ));
    }
    Ok(submitted)
}

/// Serves one request: calls its provider and returns the outcome and usage events.
pub(crate) async fn serve(
    submitted: AiRequestSubmitted,
    client: &ProviderClient,
    prices: &PriceBook,
) -> Vec<Event> {
    let route = Route::for_kind(submitted.kind).expect("validated requests have a route");
    match client
        .ask(route.provider, route.model, &submitted.prompt)
        .await
    {
        Ok(answer) => {
            let quantity_milli =
                route.quantity_milli(&submitted.prompt, answer.input_tokens, answer.output_tokens);
            let cost = prices.cost(route.meter, quantity_milli);
            let completed = AiRequestCompleted {
                meta: Meta::caused_by(&submitted.meta),
                request_id: submitted.request_id,
                provider: route.provider.into(),
                model: route.model.into(),
                cloud_project_id: None,
                latency_ms: answer.latency.as_millis() as i64,
                degraded: false,
                answer: answer.text,
                input_tokens: answer.input_tokens,
                output_tokens: answer.output_tokens,
                cost_micro_usd: cost,
            };
            let usage = UsageRecorded {
                meta: Meta::caused_by(&completed.meta),
                request_id: submitted.request_id,
                meter: route.meter,
                quantity_milli,
                cost_micro_usd: cost,
                price_book_version: prices.version,
                idempotency_key: UsageRecorded::idempotency_key_for(
                    submitted.request_id,
                    route.meter,
                ),
            };
            vec![
                Event::AiRequestCompleted(completed),
                Event::UsageRecorded(usage),
            ]
        }
        Err(error) => vec![Event::AiRequestFailed(AiRequestFailed {
            meta: Meta::caused_by(&submitted.meta),
            request_id: submitted.request_id,
            reason: error.to_string(),
            providers_tried: vec![route.provider.into()],
            retryable: error.is_retryable(),
        })],
    }
}

/// Turns one record into its action.
pub(crate) async fn handle(
    record: &InRecord,
    client: &ProviderClient,
    prices: &PriceBook,
) -> Action {
    match validate(record) {
        Ok(submitted) => Action::Publish(serve(submitted, client, prices).await),
        Err(reason) => Action::DeadLetter(reason),
    }
}
