//! Events of the `documents` topic: uploads and their sync into notebooks.

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
