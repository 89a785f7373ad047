-- The onboarding workflow's placement ledger: where each company was placed (database shard,
-- cloud project), decided once, under an advisory lock so that concurrent placements count
-- each other. It is the workflow's own state, not a projection: the log has the placements as
-- `TenantProvisioned`; this table makes a placement idempotent (a redone step gets the same
-- one back) and gives the pool's load per project without waiting for a projector.

CREATE TABLE tenant_placements (
  company_id UUID PRIMARY KEY,
  -- The CompanyRegistered record that caused the placement (its event and its place in the
  -- log): the step redone for the same record gets the same placement back; any other record
  -- registering the company — the same event re-published, or a second registration — is a
  -- duplicate.
  registration_event_id UUID NOT NULL,
  registration_partition INTEGER NOT NULL,
  registration_offset BIGINT NOT NULL,
  region TEXT NOT NULL,
  database_shard INTEGER NOT NULL,
  cloud_project_id TEXT NOT NULL,
  isolation_level TEXT NOT NULL,
  placed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_tenant_placements_project ON tenant_placements (cloud_project_id);

GRANT SELECT, INSERT ON tenant_placements TO trestle_app;
