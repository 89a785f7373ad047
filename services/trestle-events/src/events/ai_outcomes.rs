//! Events of the `ai-outcomes` topic: the one outcome of each AI request, and the reroutes
//! (federation failovers) that came before it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::enums::{AnswerPath, RerouteReason, ThrottleReason};

record! {
    /// A provider answered.
    pub struct AiRequestCompleted {
        /// The request answered.
        pub request_id: Uuid,
        /// Provider that answered.
        pub provider: String,
        /// Model that answered.
        pub model: String,
        /// Cloud project of the call, if from the pool.
        pub cloud_project_id: Option<String>,
        /// Provider call wall time, ms.
        pub latency_ms: i64,
        /// A cheaper fallback answered.
        pub degraded: bool,
        /// The answer text.
        pub answer: String,
        /// Tokens sent.
        pub input_tokens: i64,
        /// Tokens received.
        pub output_tokens: i64,
        /// Our cost, millionths of a USD.
        pub cost_micro_usd: i64,
        /// What the answer was made from. Added in schema v2 (`Unknown` in v1 data).
        pub answer_path: AnswerPath,
        /// The job's documents the answer cites, each once, in order of first citation.
        /// Added in schema v2.
        pub cited_document_ids: Vec<String>,
    }
}

record! {
    /// No provider could answer and nothing was cached.
    pub struct AiRequestFailed {
        /// The request that failed.
        pub request_id: Uuid,
        /// Cause of the last failure.
        pub reason: String,
        /// Providers tried, in order.
        pub providers_tried: Vec<String>,
        /// Submitting again may succeed.
        pub retryable: bool,
    }
}

record! {
    /// A limit refused the request.
    pub struct AiRequestThrottled {
        /// The request refused.
        pub request_id: Uuid,
        /// Which limit.
        pub reason: ThrottleReason,
        /// The limit, for people.
        pub limit: String,
        /// Wait before retrying, ms, if known.
        pub retry_after_ms: Option<i64>,
    }
}

record! {
    /// Answered from the company's own cache instead of a provider.
    pub struct AiRequestServedFromCache {
        /// The request answered.
        pub request_id: Uuid,
        /// When the cached answer was produced.
        pub cached_at: DateTime<Utc>,
        /// Show "AI temporarily limited".
        pub limited_notice: bool,
        /// The cached answer text.
        pub answer: String,
    }
}

record! {
    /// The call went through another cloud project than the company's own; not an outcome
    /// (the request's one outcome follows).
    pub struct AiRequestRerouted {
        /// The request whose call was rerouted.
        pub request_id: Uuid,
        /// Provider of the call.
        pub provider: String,
        /// The company's own cloud project, passed over.
        pub from_cloud_project_id: String,
        /// Cloud project the call was made from instead.
        pub to_cloud_project_id: String,
        /// Why the company's own project was passed over.
        pub reason: RerouteReason,
    }
}

record! {
    /// The retention of a company's AI requests ended for those submitted before
    /// `submitted_before`: read models delete their prompts and answers. Published by a durable
    /// timer the engine schedules; not an outcome.
    pub struct AiRequestsExpired {
        /// Requests submitted before this instant are expired.
        pub submitted_before: DateTime<Utc>,
        /// The retention in force when the timer was scheduled, days.
        pub retention_days: i32,
    }
}
