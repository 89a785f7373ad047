//! The body of `POST /v1/ai-requests`, its validation, and the event it becomes.

use serde::{Deserialize, Serialize};
use trestle_events::{AiRequestKind, AiRequestSubmitted, Event, Meta};
use uuid::Uuid;

/// Longest accepted prompt, in characters.
pub(crate) const MAX_PROMPT_CHARS: usize = 32_000;

/// An AI request as an upstream app submits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitAiRequest {
    /// The tenant.
    pub company_id: Uuid,
    /// Who asks, within the company.
    pub user_id: String,
    /// What is asked for: notebook_query, chat, summary, document_extraction, image_analysis,
    /// speech_to_text, text_to_speech, embedding.
    pub kind: AiRequestKind,
    pub prompt: String,
    /// Requests sharing an ordering key (a job, notebook or document) are handled in order.
    #[serde(default)]
    pub ordering_key: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    /// A client-chosen id makes retries of the same request idempotent; new one if absent.
    #[serde(default)]
    pub request_id: Option<Uuid>,
    /// Documents the request is about (ids as the upstream app knows them).
    #[serde(default)]
    pub document_ids: Vec<String>,
}

/// The answer to an accepted request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    pub request_id: Uuid,
    pub event_id: Uuid,
    pub status: String,
}

impl SubmitAiRequest {
    /// Checks what JSON typing cannot; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.company_id.is_nil() {
            return Err(("company_id", "must not be the nil UUID".into()));
        }
        if self.user_id.trim().is_empty() {
            return Err(("user_id", "must not be empty".into()));
        }
        if self.kind == AiRequestKind::Unknown {
            return Err(("kind", "is not a known request kind".into()));
        }
        if self.prompt.trim().is_empty() {
            return Err(("prompt", "must not be empty".into()));
        }
        let chars = self.prompt.chars().count();
        if chars > MAX_PROMPT_CHARS {
            return Err((
                "prompt",
                format!("has {chars} characters, more than the limit of {MAX_PROMPT_CHARS}"),
            ));
        }
        Ok(())
    }

    /// The event recording this submission.
    pub fn into_event(self) -> Event {
        Event::AiRequestSubmitted(AiRequestSubmitted {
            meta: Meta::root(self.company_id),
            request_id: self.request_id.unwrap_or_else(Uuid::now_v7),
            user_id: self.user_id,
            kind: self.kind,
            prompt: self.prompt,
            ordering_key: self.ordering_key,
            job_id: self.job_id,
            submitted_via: "http".into(),
            document_ids: self.document_ids,
        })
    }
}
