//! The bodies of the job routes (`POST /v1/jobs`, `…/complete`, `…/reopen`, `…/documents`),
//! their validation, the events they become, and the answers.
//!
//! Validation names the field and the rule; nothing here does I/O, so every rule has a unit
//! test next to it.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trestle_events::{
    DocumentAdded, DocumentKind, Event, JobCompleted, JobCreated, JobNotebookRequested,
    JobReopened, Meta,
};
use uuid::Uuid;

/// Longest job or document id, in characters.
pub(crate) const MAX_ID_CHARS: usize = 128;
/// Longest job name, document title or file name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 500;
/// Longest user id (`created_by`, `completed_by`, `uploaded_by`), in characters.
pub(crate) const MAX_USER_CHARS: usize = 200;
/// Longest reopening reason, in characters.
pub(crate) const MAX_REASON_CHARS: usize = 2_000;
/// Longest content type, in characters.
pub(crate) const MAX_CONTENT_TYPE_CHARS: usize = 255;

/// The rule of job and document ids, as the answers state it.
pub(crate) const ID_RULE: &str = "1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-' (it becomes part of notebook ids at the AI provider and of URL paths)";

/// A body or path that is refused: status, reason, and a detail naming the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub status: StatusCode,
    pub reason: &'static str,
    pub detail: String,
}

impl Invalid {
    /// A bad value of `field`: 422 `invalid_field`, the detail starting with the field's name
    /// (like every other route's).
    fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "invalid_field",
            detail: format!("{field} {problem}"),
        }
    }
}

/// The limits of one document (`[http] max_document_text_bytes`, `max_document_pages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Most UTF-8 bytes of text, all pages together.
    pub max_text_bytes: usize,
    /// Most pages.
    pub max_pages: usize,
}

/// Checks a job or document id against [`ID_RULE`].
pub(crate) fn check_id(field: &str, id: &str) -> Result<(), Invalid> {
    let chars = id.chars().count();
    if chars == 0 {
        return Err(Invalid::field(
            field,
            format!("must be {ID_RULE}; it is empty"),
        ));
    }
    if chars > MAX_ID_CHARS {
        return Err(Invalid::field(
            field,
            format!("must be {ID_RULE}; it has {chars} characters"),
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Invalid::field(
            field,
            format!("must be {ID_RULE}; {id:?} has {bad:?}"),
        ));
    }
    if id == "." || id == ".." {
        return Err(Invalid::field(
            field,
            format!("must not be {id:?}: URL paths resolve it away"),
        ));
    }
    Ok(())
}

/// Checks a free-text field: no NUL character (Postgres cannot store one), at most
/// `max_chars`, and, if `required`, not blank.
fn check_text(field: &str, value: &str, max_chars: usize, required: bool) -> Result<(), Invalid> {
    if required && value.trim().is_empty() {
        return Err(Invalid::field(field, "must not be empty"));
    }
    if value.contains('\0') {
        return Err(Invalid::field(
            field,
            "must not contain the NUL character (U+0000), which cannot be stored",
        ));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(Invalid::field(
            field,
            format!("has {chars} characters, more than the limit of {max_chars}"),
        ));
    }
    Ok(())
}

/// An optional free-text field: absent and empty are the same (the event's empty string).
fn check_optional(field: &str, value: &Option<String>, max_chars: usize) -> Result<(), Invalid> {
    value
        .as_deref()
        .map_or(Ok(()), |v| check_text(field, v, max_chars, false))
}

fn check_company(company_id: &Uuid) -> Result<(), Invalid> {
    if company_id.is_nil() {
        return Err(Invalid::field("company_id", "must not be the nil UUID"));
    }
    Ok(())
}

/// `POST /v1/jobs`: a new job of the company.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// The tenant.
    pub company_id: Uuid,
    /// The upstream app's id of the job, unique within the company ([`ID_RULE`]).
    pub job_id: String,
    /// Display name; stored trimmed.
    pub name: String,
    /// Creating user.
    #[serde(default)]
    pub created_by: Option<String>,
}

impl CreateJob {
    /// Checks what JSON typing cannot; the error names the field.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_company(&self.company_id)?;
        check_id("job_id", &self.job_id)?;
        check_text("name", &self.name, MAX_NAME_CHARS, true)?;
        check_optional("created_by", &self.created_by, MAX_USER_CHARS)
    }

    /// The event recording the creation.
    pub fn into_event(self) -> Event {
        Event::JobCreated(JobCreated {
            meta: Meta::root(self.company_id),
            job_id: self.job_id,
            name: self.name.trim().to_owned(),
            created_by: self.created_by.unwrap_or_default(),
        })
    }
}

/// A body of a route on an existing job (`…/complete`, `…/reopen`): checked, then turned into
/// the job's event.
pub(crate) trait JobCommand {
    /// The tenant.
    fn company_id(&self) -> &Uuid;
    /// Checks what JSON typing cannot; the error names the field.
    fn validate(&self) -> Result<(), Invalid>;
    /// The event for `job_id` (checked with [`check_id`]).
    fn into_event(self, job_id: String) -> Event;
}

/// `POST /v1/jobs/{job_id}/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteJob {
    /// The tenant.
    pub company_id: Uuid,
    /// Completing user.
    #[serde(default)]
    pub completed_by: Option<String>,
}

impl JobCommand for CompleteJob {
    fn company_id(&self) -> &Uuid {
        &self.company_id
    }

    fn validate(&self) -> Result<(), Invalid> {
        check_company(&self.company_id)?;
        check_optional("completed_by", &self.completed_by, MAX_USER_CHARS)
    }

    fn into_event(self, job_id: String) -> Event {
        Event::JobCompleted(JobCompleted {
            meta: Meta::root(self.company_id),
            job_id,
            completed_by: self.completed_by.unwrap_or_default(),
        })
    }
}

/// `POST /v1/jobs/{job_id}/reopen`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReopenJob {
    /// The tenant.
    pub company_id: Uuid,
    /// Why it is reopened.
    #[serde(default)]
    pub reason: Option<String>,
}

impl JobCommand for ReopenJob {
    fn company_id(&self) -> &Uuid {
        &self.company_id
    }

    fn validate(&self) -> Result<(), Invalid> {
        check_company(&self.company_id)?;
        check_optional("reason", &self.reason, MAX_REASON_CHARS)
    }

    fn into_event(self, job_id: String) -> Event {
        Event::JobReopened(JobReopened {
            meta: Meta::root(self.company_id),
            job_id,
            reason: self.reason.unwrap_or_default(),
        })
    }
}

/// `POST /v1/jobs/{job_id}/notebook`: a completed job's notebook asked for again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestNotebook {
    /// The tenant.
    pub company_id: Uuid,
    /// Requesting user.
    #[serde(default)]
    pub requested_by: Option<String>,
}

impl JobCommand for RequestNotebook {
    fn company_id(&self) -> &Uuid {
        &self.company_id
    }

    fn validate(&self) -> Result<(), Invalid> {
        check_company(&self.company_id)?;
        check_optional("requested_by", &self.requested_by, MAX_USER_CHARS)
    }

    fn into_event(self, job_id: String) -> Event {
        Event::JobNotebookRequested(JobNotebookRequested {
            meta: Meta::root(self.company_id),
            job_id,
            requested_by: self.requested_by.unwrap_or_default(),
        })
    }
}

/// `POST /v1/jobs/{job_id}/documents`: a document's text, which travels in the event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDocument {
    /// The tenant.
    pub company_id: Uuid,
    /// The upstream app's id of the document, unique within the company ([`ID_RULE`]); a new
    /// UUIDv7 when absent. Give one to make retries idempotent.
    #[serde(default)]
    pub document_id: Option<String>,
    /// Title shown in citations; stored trimmed.
    pub title: String,
    /// A [`DocumentKind`] symbol; a string here so an unknown one is answered with the list.
    #[serde(default)]
    pub kind: Option<String>,
    /// The whole text, as one page. Exactly one of `text` and `pages`.
    #[serde(default)]
    pub text: Option<String>,
    /// The text, one string per page.
    #[serde(default)]
    pub pages: Option<Vec<String>>,
    /// Original file name; the title when absent.
    #[serde(default)]
    pub file_name: Option<String>,
    /// MIME type; `text/plain` when absent.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Uploading user.
    #[serde(default)]
    pub uploaded_by: Option<String>,
}

/// The kinds a document may have, as the answers list them.
fn kinds() -> String {
    let kinds: Vec<&str> = DocumentKind::ALL
        .iter()
        .filter(|k| **k != DocumentKind::Unknown)
        .map(|k| k.as_str())
        .collect();
    kinds.join(", ")
}

impl AddDocument {
    /// Checks what JSON typing cannot; the error names the field, or the limit (413).
    pub fn validate(&self, limits: DocumentLimits) -> Result<(), Invalid> {
        check_company(&self.company_id)?;
        if let Some(id) = &self.document_id {
            check_id("document_id", id)?;
        }
        check_text("title", &self.title, MAX_NAME_CHARS, true)?;
        self.kind()?;
        let pages: &[String] = match (&self.text, &self.pages) {
            (Some(text), None) => std::slice::from_ref(text),
            (None, Some(pages)) => pages,
            (Some(_), Some(_)) => {
                return Err(Invalid::field(
                    "text",
                    "and pages were both given: give the text either as one string (text) or as pages (an array of strings), not both",
                ))
            }
            (None, None) => {
                return Err(Invalid::field(
                    "text",
                    "is missing: a document needs text, as one string (text) or as pages (an array of strings)",
                ))
            }
        };
        if pages.len() > limits.max_pages {
            return Err(Invalid {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                reason: "too_many_pages",
                detail: format!(
                    "the document has {} pages, more than the limit of {} (max_document_pages)",
                    pages.len(),
                    limits.max_pages
                ),
            });
        }
        let bytes: usize = pages.iter().map(String::len).sum();
        if bytes > limits.max_text_bytes {
            return Err(Invalid {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                reason: "document_too_large",
                detail: format!(
                    "the document's text is {bytes} bytes (UTF-8), more than the limit of {} bytes (max_document_text_bytes)",
                    limits.max_text_bytes
                ),
            });
        }
        let field = |i: usize| match self.text {
            Some(_) => "text".to_owned(),
            None => format!("pages[{i}]"),
        };
        if let Some(i) = pages.iter().position(|p| p.contains('\0')) {
            return Err(Invalid::field(
                &field(i),
                "must not contain the NUL character (U+0000), which cannot be stored",
            ));
        }
        if pages.iter().all(|p| p.trim().is_empty()) {
            return Err(Invalid {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                reason: "empty_document",
                detail: "a document needs text: its text (or every one of its pages) is empty or whitespace".into(),
            });
        }
        check_optional("file_name", &self.file_name, MAX_NAME_CHARS)?;
        if let Some(content_type) = &self.content_type {
            check_text("content_type", content_type, MAX_CONTENT_TYPE_CHARS, true)?;
        }
        check_optional("uploaded_by", &self.uploaded_by, MAX_USER_CHARS)
    }

    fn kind(&self) -> Result<DocumentKind, Invalid> {
        let Some(symbol) = &self.kind else {
            return Err(Invalid::field(
                "kind",
                format!("is missing: it is one of {}", kinds()),
            ));
        };
        match symbol.parse() {
            Ok(DocumentKind::Unknown) | Err(_) => Err(Invalid::field(
                "kind",
                format!("must be one of {}; {symbol:?} is not", kinds()),
            )),
            Ok(kind) => Ok(kind),
        }
    }

    /// The event recording the document of `job_id` (checked with [`check_id`]; the body with
    /// [`AddDocument::validate`]): the text as its pages, `size_bytes` their UTF-8 bytes,
    /// `storage_uri` empty (the text travels in the event).
    pub fn into_event(self, job_id: String) -> Event {
        let kind = self.kind().unwrap_or(DocumentKind::Other);
        let pages = match (self.text, self.pages) {
            (Some(text), _) => vec![text],
            (None, pages) => pages.unwrap_or_default(),
        };
        let title = self.title.trim().to_owned();
        let file_name = match self.file_name {
            Some(f) if !f.trim().is_empty() => f,
            _ => title.clone(),
        };
        Event::DocumentAdded(DocumentAdded {
            meta: Meta::root(self.company_id),
            document_id: self
                .document_id
                .unwrap_or_else(|| Uuid::now_v7().to_string()),
            job_id,
            file_name,
            content_type: self.content_type.unwrap_or_else(|| "text/plain".into()),
            size_bytes: pages.iter().map(|p| p.len() as i64).sum(),
            page_count: Some(pages.len() as i32),
            storage_uri: String::new(),
            uploaded_by: self.uploaded_by.unwrap_or_default(),
            title,
            kind,
            pages,
        })
    }
}

/// The answer to an accepted job creation, completion or reopening.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAccepted {
    pub job_id: String,
    pub event_id: Uuid,
    /// Always `accepted`.
    pub status: String,
}

/// The answer to an accepted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentAccepted {
    /// As given, or the one generated.
    pub document_id: String,
    pub event_id: Uuid,
    /// Always `accepted`.
    pub status: String,
}

/// The answer of `GET /v1/jobs/{job_id}/documents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDocumentsAnswer {
    pub job_id: String,
    /// In the order they were added.
    pub documents: Vec<DocumentState>,
}

/// One document of a job and where its sync into a notebook stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentState {
    pub document_id: String,
    pub title: String,
    pub kind: String,
    pub file_name: String,
    /// `pending`, `synced` or `failed`.
    pub sync_state: String,
    pub notebook_id: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub added_at: DateTime<Utc>,
    pub synced_at: Option<DateTime<Utc>>,
}

impl From<trestle_query::documents::JobDocuments> for JobDocumentsAnswer {
    fn from(read: trestle_query::documents::JobDocuments) -> Self {
        JobDocumentsAnswer {
            job_id: read.job_id,
            documents: read
                .documents
                .into_iter()
                .map(|d| DocumentState {
                    document_id: d.document_id,
                    title: d.title,
                    kind: d.kind,
                    file_name: d.file_name,
                    sync_state: d.sync_state,
                    notebook_id: d.notebook_id,
                    attempts: d.attempts,
                    last_error: d.last_error,
                    added_at: d.added_at,
                    synced_at: d.synced_at,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DocumentLimits = DocumentLimits {
        max_text_bytes: 10,
        max_pages: 3,
    };

    fn document(text: Option<&str>, pages: Option<&[&str]>) -> AddDocument {
        AddDocument {
            company_id: Uuid::now_v7(),
            document_id: None,
            title: " Level 2 slab ".into(),
            kind: Some("drawing".into()),
            text: text.map(Into::into),
            pages: pages.map(|p| p.iter().map(|s| s.to_string()).collect()),
            file_name: None,
            content_type: None,
            uploaded_by: None,
        }
    }

    #[test]
    fn ids_are_one_to_128_url_safe_characters() {
        for ok in ["job-12", "J.2024_07", "a", &"x".repeat(128), "..."] {
            assert_eq!(check_id("job_id", ok), Ok(()), "{ok}");
        }
        for bad in ["", "a/b", "a b", "ü", "a?b", ".", "..", &"x".repeat(129)] {
            let invalid = check_id("job_id", bad).unwrap_err();
            assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(
                invalid.detail.starts_with("job_id must"),
                "{bad}: {invalid:?}"
            );
        }
        let slash = check_id("job_id", "a/b").unwrap_err().detail;
        assert!(
            slash.contains("'/'") && slash.contains("A-Z, a-z, 0-9"),
            "{slash}"
        );
    }

    #[test]
    fn text_becomes_one_page_and_sizes_count_utf8_bytes() {
        let Event::DocumentAdded(added) =
            document(Some("Bewehrung"), None).into_event("job-1".into())
        else {
            panic!("expected DocumentAdded")
        };
        assert_eq!(added.pages, ["Bewehrung"]);
        assert_eq!((added.page_count, added.size_bytes), (Some(1), 9));
        assert_eq!(added.title, "Level 2 slab");
        assert_eq!(
            added.file_name, "Level 2 slab",
            "the file name defaults to the title"
        );
        assert_eq!(added.content_type, "text/plain");
        assert_eq!(added.kind, DocumentKind::Drawing);
        assert_eq!(added.storage_uri, "");
        assert_eq!(
            Uuid::parse_str(&added.document_id)
                .unwrap()
                .get_version_num(),
            7
        );

        let Event::DocumentAdded(added) =
            document(None, Some(&["Maß", "", "b"])).into_event("job-1".into())
        else {
            panic!("expected DocumentAdded")
        };
        assert_eq!((added.page_count, added.size_bytes), (Some(3), 5));
    }

    #[test]
    fn limits_are_413_naming_the_limit_and_the_size() {
        let too_long = document(Some("ü".repeat(6).as_str()), None).validate(LIMITS);
        let invalid = too_long.unwrap_err();
        assert_eq!(invalid.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(invalid.detail.contains("12 bytes") && invalid.detail.contains("limit of 10"));
        assert!(invalid.detail.contains("max_document_text_bytes"));
        assert_eq!(
            document(Some(&"x".repeat(10)), None).validate(LIMITS),
            Ok(())
        );

        let invalid = document(None, Some(&["a"; 4]))
            .validate(LIMITS)
            .unwrap_err();
        assert_eq!(invalid.reason, "too_many_pages");
        assert!(
            invalid.detail.contains("4 pages") && invalid.detail.contains("max_document_pages")
        );
    }

    #[test]
    fn a_document_needs_exactly_one_of_text_and_pages_and_some_text() {
        let both = document(Some("a"), Some(&["b"]))
            .validate(LIMITS)
            .unwrap_err();
        assert!(both.detail.contains("not both"), "{both:?}");
        let neither = document(None, None).validate(LIMITS).unwrap_err();
        assert!(neither.detail.contains("needs text"), "{neither:?}");
        for blank in [
            document(Some(" \n"), None),
            document(None, Some(&[])),
            document(None, Some(&["", "  "])),
        ] {
            let invalid = blank.validate(LIMITS).unwrap_err();
            assert_eq!(invalid.reason, "empty_document");
            assert!(invalid.detail.contains("a document needs text"));
        }
        let nul = document(None, Some(&["a", "b\0"]))
            .validate(LIMITS)
            .unwrap_err();
        assert!(nul.detail.starts_with("pages[1]"), "{nul:?}");
    }

    #[test]
    fn an_unknown_or_missing_kind_is_answered_with_the_kinds() {
        for kind in [Some("horoscope"), Some("unknown"), None] {
            let body = AddDocument {
                kind: kind.map(Into::into),
                ..document(Some("a"), None)
            };
            let invalid = body.validate(LIMITS).unwrap_err();
            assert!(invalid.detail.starts_with("kind "), "{invalid:?}");
            assert!(
                invalid.detail.contains(
                    "drawing, specification, rfi, submittal, contract, report, photo_log, other"
                ),
                "{invalid:?}"
            );
        }
    }

    #[test]
    fn job_bodies_name_the_bad_field() {
        let job = |job_id: &str, name: &str| CreateJob {
            company_id: Uuid::now_v7(),
            job_id: job_id.into(),
            name: name.into(),
            created_by: None,
        };
        assert_eq!(job("job-1", "Tower A").validate(), Ok(()));
        assert!(job("job/1", "Tower A")
            .validate()
            .unwrap_err()
            .detail
            .starts_with("job_id"));
        assert!(job("job-1", " ")
            .validate()
            .unwrap_err()
            .detail
            .starts_with("name"));
        let long = job("job-1", &"n".repeat(501)).validate().unwrap_err();
        assert!(long.detail.contains("limit of 500"), "{long:?}");
        let nil = CreateJob {
            company_id: Uuid::nil(),
            ..job("job-1", "Tower A")
        };
        assert!(nil.validate().unwrap_err().detail.starts_with("company_id"));
    }
}
