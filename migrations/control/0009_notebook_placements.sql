-- The notebook workflow's capacity ledger: which cloud project each notebook was placed in,
-- decided once (a redone step gets the same project back), under an advisory lock per project
-- so that concurrent placements count each other, and never more live notebooks in a project
-- than its limit (cloud_projects.notebook_limit, from the pool projection). Workflow state,
-- like tenant_placements: the log has every notebook as NotebookCreated / NotebookArchived.

CREATE TABLE notebook_placements (
  notebook_id TEXT PRIMARY KEY, -- globally unique: it starts with the company id
  company_id UUID NOT NULL,
  cloud_project_id TEXT NOT NULL,
  placed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  deleted_at TIMESTAMPTZ         -- deleted at the provider: its place is free again
);

CREATE INDEX idx_notebook_placements_live ON notebook_placements (cloud_project_id)
  WHERE deleted_at IS NULL;

-- live notebooks per project, kept with each placement and deletion (one row to read, not a
-- count over up to 50,000)
CREATE TABLE notebook_capacity (
  cloud_project_id TEXT PRIMARY KEY,
  live INTEGER NOT NULL DEFAULT 0 CHECK (live >= 0)
);

GRANT SELECT, INSERT, UPDATE ON notebook_placements, notebook_capacity TO trestle_app;
