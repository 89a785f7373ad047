//! The company knowledge base (seed: onboarding step 2, "AI Initialization"): one notebook per
//! company, created in its cloud project when onboarding provisions it, seeded with the
//! construction templates of `templates/`. A `notebook_query` about no job asks it.
//!
//! Its documents are kept like a job's, under the reserved scope [`KNOWLEDGE_BASE`] (a row of
//! `jobs` that is active and hot forever, its notebook the knowledge base): each template is a
//! `DocumentAdded` of that scope, synced and embedded by the same steps as a job's document.
//! No upstream job can take the scope's id (`@` is not allowed in job ids).

use trestle_events::{
    CompanyReady, DocumentAdded, DocumentKind, Event, KnowledgeBaseRequested, Meta,
    NotebookCreated, NotebookPurpose, NotebookTier,
};

use crate::client::CallError;
use crate::error::Error;
use crate::ledger;
use crate::placement;
use crate::steps::{Company, Steps};

/// The scope (job id) the knowledge base's documents and chunks are kept under.
pub const KNOWLEDGE_BASE: &str = "@kb";

/// A template seeded into every knowledge base.
struct Template {
    /// Its document id in the knowledge base.
    document_id: &'static str,
    title: &'static str,
    kind: DocumentKind,
    text: &'static str,
}

const TEMPLATES: &[Template] = &[
    Template {
        document_id: "template-rfi",
        title: "Request for Information (RFI) template",
        kind: DocumentKind::Rfi,
        text: include_str!("../templates/rfi.md"),
    },
    Template {
        document_id: "template-daily-report",
        title: "Daily report template",
        kind: DocumentKind::Report,
        text: include_str!("../templates/daily-report.md"),
    },
    Template {
        document_id: "template-change-order",
        title: "Change order template",
        kind: DocumentKind::Contract,
        text: include_str!("../templates/change-order.md"),
    },
    Template {
        document_id: "template-safety-jha",
        title: "Job hazard analysis (JHA) template",
        kind: DocumentKind::Report,
        text: include_str!("../templates/safety-jha.md"),
    },
    Template {
        document_id: "template-submittal",
        title: "Submittal template",
        kind: DocumentKind::Submittal,
        text: include_str!("../templates/submittal.md"),
    },
];

/// The document ids of the templates every knowledge base is seeded with.
pub fn template_ids() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|t| t.document_id)
}

impl Steps {
    /// The knowledge base of a provisioned company: its scope row, its notebook placed and
    /// created at the provider (tried again until the provider has it ready), then — from the
    /// step that saw it ready — `NotebookCreated`, one `DocumentAdded` per template and
    /// `CompanyReady`. A second request for a company's knowledge base changes nothing.
    pub(crate) async fn knowledge_base(
        &self,
        company: &Company<'_>,
        e: &KnowledgeBaseRequested,
    ) -> Result<Vec<Event>, Error> {
        let company_id = company.home.company;
        let scope = ledger::ensure_knowledge_base(
            company.shard,
            company_id,
            &e.notebook_id,
            e.meta.occurred_at,
        )
        .await?;
        let id = scope
            .notebook_id
            .clone()
            .expect("the scope names its notebook");
        let notebook = match ledger::notebook(company.shard, company_id, &id).await? {
            Some(notebook) => notebook,
            None => {
                let project = placement::place(&self.control, &id, &company.home, &[]).await?;
                ledger::insert_notebook(
                    company.shard,
                    company_id,
                    &id,
                    None,
                    &project,
                    e.meta.event_id,
                )
                .await?
            }
        };
        let Some(notebook) = self
            .create_at_provider(company, notebook, "Knowledge base", &e.meta)
            .await?
        else {
            // Still being set up at the provider: the step is tried again (the runtime's
            // backoff), keeping the scope's order, until it is ready.
            return Err(Error::Service(CallError::NotReady {
                notebook: id,
                message: "the knowledge base is still being created".into(),
            }));
        };
        if notebook.ready_by != Some(e.meta.event_id) {
            tracing::info!(
                message = "A knowledge base set up before is passed over.",
                company = %company_id,
                notebook = %id
            );
            return Ok(Vec::new());
        }
        let mut events = vec![Event::NotebookCreated(NotebookCreated {
            meta: Meta::caused_by(&e.meta),
            notebook_id: id.clone(),
            purpose: NotebookPurpose::KnowledgeBase,
            job_id: None,
            cloud_project_id: notebook.cloud_project_id.clone(),
            tier: NotebookTier::Hot,
        })];
        events.extend(TEMPLATES.iter().map(|t| template_added(t, &e.meta)));
        events.push(Event::CompanyReady(CompanyReady {
            meta: Meta::caused_by(&e.meta),
            kb_notebook_id: id,
            cloud_project_id: notebook.cloud_project_id,
            templates: TEMPLATES.len() as i32,
        }));
        Ok(events)
    }
}

/// The upload of `template` into the knowledge base: one page per paragraph.
fn template_added(template: &Template, cause: &Meta) -> Event {
    let pages: Vec<String> = (template.text.split("\n\n"))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    Event::DocumentAdded(DocumentAdded {
        meta: Meta::caused_by(cause),
        document_id: template.document_id.to_owned(),
        job_id: KNOWLEDGE_BASE.to_owned(),
        file_name: format!("{}.md", template.document_id),
        content_type: "text/markdown".into(),
        size_bytes: template.text.len() as i64,
        page_count: Some(pages.len() as i32),
        storage_uri: format!("trestle://templates/{}.md", template.document_id),
        uploaded_by: "trestle-notebooks".into(),
        title: template.title.to_owned(),
        kind: template.kind,
        pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_becomes_a_knowledge_base_document_with_its_text() {
        let cause = Meta::root(uuid::Uuid::now_v7());
        for template in TEMPLATES {
            let Event::DocumentAdded(added) = template_added(template, &cause) else {
                unreachable!()
            };
            assert_eq!(added.job_id, KNOWLEDGE_BASE);
            assert!(
                added.pages.len() >= 3,
                "{}: paragraphs as pages",
                added.document_id
            );
            assert!(added.pages.iter().all(|p| !p.trim().is_empty()));
            assert_eq!(added.pages.join("\n\n"), template.text.trim());
        }
        let ids: std::collections::BTreeSet<_> = template_ids().collect();
        assert_eq!(ids.len(), TEMPLATES.len(), "template ids are unique");
    }
}
