//! Events of the `usage` topic: billable usage increments.

use uuid::Uuid;

use crate::enums::Meter;

record! {
    /// A billable usage increment, counted once by its idempotency key.
    pub struct UsageRecorded {
        /// The business request it belongs to.
        pub request_id: Uuid,
        /// Meter counted against.
        pub meter: Meter,
        /// Quantity in thousandths of the meter's unit.
        pub quantity_milli: i64,
        /// Price, millionths of a USD.
        pub cost_micro_usd: i64,
        /// Price book version that priced it.
        pub price_book_version: i32,
        /// `"<request_id>:<meter>"`; see [`UsageRecorded::idempotency_key_for`].
        pub idempotency_key: String,
    }
}

impl UsageRecorded {
    /// The permanent idempotency key of the usage of `request_id` on `meter`:
    /// `"<request_id>:<meter>"`. Never change this format: stored keys must keep matching.
    pub fn idempotency_key_for(request_id: Uuid, meter: Meter) -> String {
        format!("{}:{}", request_id.hyphenated(), meter.as_str())
    }
}
