//! Events of the `ai-requests` topic: AI work as submitted by upstream apps.

use uuid::Uuid;

use crate::enums::AiRequestKind;

record! {
    /// A user asked for AI work; exactly one outcome on `ai-outcomes` follows.
    pub struct AiRequestSubmitted {
        /// Submitter-chosen id; outcomes and usage refer to it.
        pub request_id: Uuid,
        /// Upstream user id.
        pub user_id: String,
        /// What is asked.
        pub kind: AiRequestKind,
        /// The question or instruction.
        pub prompt: String,
        /// Job, notebook or document it must be ordered with; `None` if independent.
        pub ordering_key: Option<String>,
        /// Job it concerns, if any.
        pub job_id: Option<String>,
        /// Upstream surface (e.g. `"web"`).
        pub submitted_via: String,
        /// Documents the prompt refers to; empty when none. Added in schema v2.
        pub document_ids: Vec<String>,
    }
}
