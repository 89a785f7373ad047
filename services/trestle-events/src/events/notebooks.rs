//! Events of the `notebooks` topic: the hot → warm → cold lifecycle of notebooks.

use crate::enums::{NotebookPurpose, NotebookTier};

record! {
    /// A notebook was created in a cloud project.
    pub struct NotebookCreated {
        /// Provider notebook id.
        pub notebook_id: String,
        /// What it holds.
        pub purpose: NotebookPurpose,
        /// Job it serves; `None` for knowledge-base and warm-pool notebooks.
        pub job_id: Option<String>,
        /// Cloud project it lives in.
        pub cloud_project_id: String,
        /// Starting tier.
        pub tier: NotebookTier,
    }
}

record! {
    /// A job's notebook moved down a tier.
    pub struct NotebookDemoted {
        /// Notebook the job lived in before.
        pub notebook_id: String,
        /// Job concerned.
        pub job_id: Option<String>,
        /// Tier before.
        pub from_tier: NotebookTier,
        /// Tier after.
        pub to_tier: NotebookTier,
        /// Warm-pool notebook the job moved into; `None` for cold.
        pub target_notebook_id: Option<String>,
        /// Why.
        pub reason: String,
    }
}

record! {
    /// A notebook was deleted at the provider.
    pub struct NotebookArchived {
        /// Provider notebook id.
        pub notebook_id: String,
        /// Job it served.
        pub job_id: Option<String>,
        /// Cloud project whose capacity is freed.
        pub cloud_project_id: String,
        /// Embeddings kept for RAG.
        pub embeddings_kept: bool,
        /// Why.
        pub reason: String,
    }
}

record! {
    /// A cold job's notebook was created again on demand.
    pub struct NotebookRecreated {
        /// New provider notebook id.
        pub notebook_id: String,
        /// The archived notebook it replaces.
        pub previous_notebook_id: String,
        /// Job it serves.
        pub job_id: Option<String>,
        /// Cloud project it lives in.
        pub cloud_project_id: String,
        /// What triggered it.
        pub reason: String,
    }
}
