//! Events of the `jobs` topic: a job's lifecycle (created, completed, reopened, a tier
//! transition come due) and its documents' upload and sync into notebooks. One topic, so a
//! job's events keep their order (key: the company; ordering key in the workflow: the job).

use uuid::Uuid;

use crate::enums::{DocumentKind, NotebookTier};

record! {
    /// A job was created.
    pub struct JobCreated {
        /// Upstream job id, unique within the company.
        pub job_id: String,
        /// Display name.
        pub name: String,
        /// Creating user; empty when not given.
        pub created_by: String,
    }
}

record! {
    /// A job was completed.
    pub struct JobCompleted {
        /// Upstream job id.
        pub job_id: String,
        /// Completing user; empty when not given.
        pub completed_by: String,
    }
}

record! {
    /// A completed job was reopened.
    pub struct JobReopened {
        /// Upstream job id.
        pub job_id: String,
        /// Why; empty when not given.
        pub reason: String,
    }
}

record! {
    /// A timer came due: the job moves to `to_tier` now.
    pub struct JobTierDue {
        /// Upstream job id.
        pub job_id: String,
        /// The tier it moves to.
        pub to_tier: NotebookTier,
        /// `event_id` of the completion or reopening this transition follows.
        pub cause_id: Uuid,
    }
}

record! {
    /// A notebook of its own was asked for a completed job (`POST /v1/jobs/{id}/notebook`): a
    /// warm or cold job's notebook is created again, and its demotions start over from here.
    pub struct JobNotebookRequested {
        /// Upstream job id.
        pub job_id: String,
        /// Requesting user; empty when not given.
        pub requested_by: String,
    }
}

record! {
    /// A provisioned company's knowledge base is to be set up (AI initialisation): its notebook
    /// created and seeded with the construction templates. Published by onboarding with
    /// `TenantProvisioned`.
    pub struct KnowledgeBaseRequested {
        /// The knowledge-base notebook's id, chosen by onboarding (`kb_notebook_id`).
        pub notebook_id: String,
    }
}

record! {
    /// A document was uploaded to a job.
    pub struct DocumentAdded {
        /// Upstream document id.
        pub document_id: String,
        /// Job it belongs to.
        pub job_id: String,
        /// Original file name.
        pub file_name: String,
        /// MIME type.
        pub content_type: String,
        /// Size in bytes.
        pub size_bytes: i64,
        /// Page count, if known.
        pub page_count: Option<i32>,
        /// Where the bytes are stored.
        pub storage_uri: String,
        /// Uploading user.
        pub uploaded_by: String,
        /// Title shown in citations. Added in schema v2.
        pub title: String,
        /// Kind of document. Added in schema v2.
        pub kind: DocumentKind,
        /// The text, one string per page. Added in schema v2.
        pub pages: Vec<String>,
    }
}

record! {
    /// A document must be synced into a notebook.
    pub struct DocumentSyncRequested {
        /// Upstream document id.
        pub document_id: String,
        /// Job it belongs to.
        pub job_id: String,
        /// Target notebook.
        pub notebook_id: String,
        /// 1 for the first attempt.
        pub attempt: i32,
    }
}

record! {
    /// A document was synced and can be queried.
    pub struct DocumentSynced {
        /// Upstream document id.
        pub document_id: String,
        /// Job it belongs to.
        pub job_id: String,
        /// Notebook it lives in.
        pub notebook_id: String,
        /// Attempt that succeeded.
        pub attempt: i32,
        /// Pages indexed.
        pub pages_indexed: i32,
        /// Sync time, ms.
        pub duration_ms: i64,
    }
}

record! {
    /// A sync attempt failed.
    pub struct DocumentSyncFailed {
        /// Upstream document id.
        pub document_id: String,
        /// Job it belongs to.
        pub job_id: String,
        /// Target notebook.
        pub notebook_id: String,
        /// Attempt that failed.
        pub attempt: i32,
        /// Cause.
        pub reason: String,
        /// A later attempt may succeed.
        pub retryable: bool,
    }
}
