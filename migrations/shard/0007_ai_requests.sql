-- The ai_requests projection of a shard database (trestle-projector, `ai_requests.rs`;
-- docs/answers.md): one row per AI request of the shard's companies, folded from
-- `ai-requests` (AiRequestSubmitted: queued) and `ai-outcomes` (completed, failed, throttled,
-- served from cache; reroutes), so an API can answer "what became of my request" from its
-- company's shard.
--
-- The fold does not depend on arrival order: a submission fills only the submission's columns
-- (never the status), an outcome applies only if it is newer (occurred_at, then event_id) than
-- the one applied, so an outcome read before its submission, or a re-published one, lands the
-- same row. Answers are customer data: AiRequestsExpired (a durable timer the engine
-- schedules, `retention_days` after the day it served) deletes a company's rows submitted
-- before its instant. Row-level security enabled and FORCED, like every company-scoped table.

CREATE TABLE ai_requests (
  company_id UUID NOT NULL,
  request_id UUID NOT NULL,
  -- queued: submitted, no outcome yet; the others name the outcome applied.
  status TEXT NOT NULL
    CHECK (status IN ('queued', 'completed', 'failed', 'throttled', 'served_from_cache')),
  -- From the submission (NULL until it is read).
  kind TEXT,
  user_id TEXT,
  job_id TEXT,
  submitted_at TIMESTAMPTZ,
  submitted_event_id UUID,
  -- From the outcome (NULL until one is read; the newest applies).
  outcome_event_id UUID,
  ended_at TIMESTAMPTZ,
  answer TEXT,               -- completed, served_from_cache
  provider TEXT,             -- completed
  model TEXT,                -- completed
  cloud_project_id TEXT,     -- completed
  degraded BOOLEAN,          -- completed: a fallback or cheaper step answered
  limited_notice BOOLEAN,    -- served_from_cache: "AI temporarily limited"
  answer_path TEXT,          -- completed: chat, job_notebook, warm_notebook, rag, knowledge_base
  cited_document_ids TEXT[] NOT NULL DEFAULT '{}',
  input_tokens BIGINT,
  output_tokens BIGINT,
  cost_micro_usd BIGINT,     -- our cost, millionths of a USD
  latency_ms BIGINT,
  cached_at TIMESTAMPTZ,     -- served_from_cache: when the cached answer was made
  reason TEXT,               -- failed: the cause; throttled: which limit (rate_limit, ...)
  detail TEXT,               -- throttled: the limit for people; failed: providers tried
  retryable BOOLEAN,         -- failed
  retry_after_ms BIGINT,     -- throttled
  -- The last reroute (federation failover) of its calls, if any.
  rerouted_to TEXT,
  reroute_reason TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, request_id)
);

-- recent(company, since): a company's requests newest first; retention: its oldest.
CREATE INDEX idx_ai_requests_recent
  ON ai_requests (company_id, (COALESCE(submitted_at, ended_at)) DESC);

ALTER TABLE ai_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_requests
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

-- A request reaching a final status is announced on channel `ai_requests` (payload
-- "<company_id>/<request_id>"), delivered when the projector's transaction commits: a reader
-- waiting for an answer (trestle_query::ai_requests::Waiter) re-reads the row then instead of
-- polling. Ids only; the row itself is read as the tenant.
CREATE FUNCTION notify_ai_request_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ai_requests', NEW.company_id::text || '/' || NEW.request_id::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER ai_requests_final
  AFTER INSERT OR UPDATE OF status, outcome_event_id ON ai_requests
  FOR EACH ROW WHEN (NEW.status <> 'queued')
  EXECUTE FUNCTION notify_ai_request_final();

-- What a shard's ai_requests projector knows of tenant routing (with `[shard]`): each
-- company's latest provisioning from `tenants`. Platform data, like usage_routing: no
-- row-level security.
CREATE TABLE ai_request_routing (
  company_id UUID PRIMARY KEY,
  database_shard INTEGER NOT NULL,
  provisioned_at TIMESTAMPTZ NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON ai_requests TO trestle_app;
GRANT SELECT, INSERT, UPDATE ON ai_request_routing TO trestle_app;
