-- The engine's record of which ai-requests record owns each request_id of a company
-- (trestle-engine, `claims.rs`; docs/engine.md "One answer per request_id"). Written before any
-- rate limit, budget reservation or provider call: the first record to claim a request_id
-- serves it; any other record with the same request_id (an upstream retry that reached the
-- log) finds the claim someone else's and is passed over — no call, no reservation, no
-- outcome, no usage. The owner redone after a crash finds its own claim and serves again.
-- A request that ended throttled or failed gives its claim back (so a retry is served); a
-- completed or cached answer keeps it for good, like usage_records' idempotency keys.
-- Workflow state, not a projection; company-scoped, row-level security FORCED.

CREATE TABLE ai_request_claims (
  company_id UUID NOT NULL,
  request_id UUID NOT NULL,
  -- The owner: where its AiRequestSubmitted is in the log.
  source_topic TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset BIGINT NOT NULL,
  claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, request_id)
);

ALTER TABLE ai_request_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_request_claims FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_request_claims
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

GRANT SELECT, INSERT, DELETE ON ai_request_claims TO trestle_app;
