-- The notebook workflow's state in the company's shard (trestle-notebooks; docs/notebooks.md):
-- each job's tier and the notebook that answers for it, every notebook the company has had,
-- each document with its text and sync state, and the document chunks' embeddings for RAG.
--
-- Like the onboarding placement ledger, this is workflow state, not a projection: the log has
-- every fact (the `jobs` and `notebooks` topics); these rows make each step's external calls
-- idempotent (a redone step finds the notebook id it chose, the source it added) and let the
-- engine route a question by the job's current tier without waiting for a projector. Written
-- by the workflow only, as the company (row-level security, forced).
--
-- A row written by a step names the record whose step wrote it (`*_by`, that record's
-- event_id). A step redone after a crash — its Kafka transaction never committed — finds its
-- own change already made and publishes the events of it again, instead of none.

CREATE EXTENSION IF NOT EXISTS vector; -- created by the superuser beforehand (not trusted)

CREATE TABLE jobs (
  company_id UUID NOT NULL,
  job_id TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'completed')),
  -- hot: its own notebook; warm: its sources in a warm pool (notebook_id names the pool);
  -- cold: no notebook (RAG answers). recreating: a notebook of its own is being created
  -- again (notebook_id names it; RAG answers until it is ready).
  tier TEXT NOT NULL CHECK (tier IN ('hot', 'warm', 'cold', 'recreating')),
  notebook_id TEXT,          -- NULL when cold
  -- Incremented at each notebook of its own (hot at creation, re-creations): its notebook
  -- ids end in it, so a re-creation never reuses a deleted notebook's id.
  generation INTEGER NOT NULL DEFAULT 1,
  -- The warm pool chosen for the job's demotion (set before its sources move there, so a
  -- redone demotion picks the same pool).
  pool_notebook_id TEXT,
  tier_by UUID,              -- the record whose step set the tier last
  completion_id UUID,        -- event_id of the JobCompleted being followed; NULL while active
  reopened_by UUID,          -- event_id of the JobReopened being followed (re-creation)
  completed_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, job_id)
);

CREATE TABLE notebooks (
  company_id UUID NOT NULL,
  notebook_id TEXT NOT NULL,
  purpose TEXT NOT NULL CHECK (purpose IN ('job', 'knowledge_base', 'warm_pool')),
  job_id TEXT,               -- purpose 'job' only
  cloud_project_id TEXT NOT NULL,
  -- creating: chosen and reserved, the provider may not have it yet; ready: created at the
  -- provider; deleted: deleted at the provider (kept: the history of where the company's
  -- notebooks lived).
  state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'deleted')),
  created_by UUID NOT NULL,  -- the record whose step chose it
  ready_by UUID,             -- the record whose step saw it created at the provider
  deleted_by UUID,           -- the record whose step deleted it at the provider
  warm_jobs INTEGER NOT NULL DEFAULT 0, -- warm pools: jobs placed in it, ever (at most 10)
  live_jobs INTEGER NOT NULL DEFAULT 0, -- warm pools: jobs in it not yet cold (or reopened)
  sources INTEGER NOT NULL DEFAULT 0,   -- warm pools: documents placed in it, ever
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  deleted_at TIMESTAMPTZ,
  PRIMARY KEY (company_id, notebook_id)
);

CREATE INDEX idx_notebooks_warm_open ON notebooks (company_id)
  WHERE purpose = 'warm_pool' AND state <> 'deleted';

CREATE TABLE job_documents (
  company_id UUID NOT NULL,
  document_id TEXT NOT NULL, -- upstream id, unique within the company
  job_id TEXT NOT NULL,
  title TEXT NOT NULL,
  kind TEXT NOT NULL,
  file_name TEXT NOT NULL,
  pages TEXT[] NOT NULL,     -- the text, one element per page
  added_event_id UUID NOT NULL,
  added_at TIMESTAMPTZ NOT NULL,
  -- pending: waiting for (another) attempt; synced: in `notebook_id` and embedded;
  -- failed: given up (a reason that no retry mends, e.g. the notebook's source limit).
  sync_state TEXT NOT NULL CHECK (sync_state IN ('pending', 'synced', 'failed')),
  notebook_id TEXT,          -- the notebook it is a source of (NULL: none, e.g. cold)
  attempts INTEGER NOT NULL DEFAULT 0,
  state_by UUID,             -- the sync request whose step set sync_state last
  last_error TEXT,
  synced_at TIMESTAMPTZ,
  PRIMARY KEY (company_id, document_id)
);

CREATE INDEX idx_job_documents_job ON job_documents (company_id, job_id);

-- Chunks of each synced document and their embeddings (dimension: the embedding model's,
-- trestle_provider_sim::EMBEDDING_DIMENSIONS = 256 locally). Kept when a job goes cold: RAG
-- answers from them. A question about a job reads that job's chunks only (the btree index),
-- an exact nearest-neighbour scan: a job has a few thousand chunks, where a filtered
-- approximate (HNSW) scan would lose recall.
CREATE TABLE ai_embeddings (
  company_id UUID NOT NULL,
  document_id TEXT NOT NULL,
  chunk_index INTEGER NOT NULL,
  job_id TEXT NOT NULL,
  content TEXT NOT NULL,
  -- public.vector: the extension's type, in public (where compose/stack creates it), named in
  -- full because a projection rebuild migrates into a schema of its own with only that schema
  -- on its search_path.
  embedding public.vector(256) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, document_id, chunk_index)
);

CREATE INDEX idx_ai_embeddings_job ON ai_embeddings (company_id, job_id);

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);
ALTER TABLE notebooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE notebooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notebooks
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);
ALTER TABLE job_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON job_documents
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);
ALTER TABLE ai_embeddings ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_embeddings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_embeddings
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON jobs, notebooks, job_documents TO trestle_app;
GRANT SELECT, INSERT, DELETE ON ai_embeddings TO trestle_app;
