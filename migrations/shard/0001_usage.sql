-- Usage projection of a shard database: per-company usage per meter, per day and per month,
-- folded from the `usage` topic exactly once.
--
-- Exactly once rests on two things, both in this schema:
--   * usage_records.idempotency_key (request_id:meter) is permanent and unique, so a usage event
--     produced twice (a retrying producer, a replay) is counted once;
--   * projector_offsets is written in the same transaction as the rows it stands for, and the
--     projector seeks from it, so a crash never double-counts or skips.
--
-- Row-level security: every company-scoped table is scoped to the company set per transaction
-- with set_config('trestle.company_id', <uuid>, true). Enabled and FORCED, so even the owner is
-- subject to it; the application role trestle_app owns nothing and is not BYPASSRLS.

CREATE TABLE company_ai_usage (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  company_id UUID NOT NULL,

  -- Period
  period_start DATE NOT NULL,
  period_type TEXT NOT NULL CHECK (period_type IN ('daily', 'monthly')),

  -- Counts, one column per meter
  notebooklm_queries BIGINT NOT NULL DEFAULT 0,
  gemini_flash_queries BIGINT NOT NULL DEFAULT 0,
  gemini_pro_queries BIGINT NOT NULL DEFAULT 0,
  document_pages BIGINT NOT NULL DEFAULT 0,
  vision_images BIGINT NOT NULL DEFAULT 0,
  speech_minutes NUMERIC(14, 3) NOT NULL DEFAULT 0,
  tts_characters BIGINT NOT NULL DEFAULT 0,
  embedding_tokens BIGINT NOT NULL DEFAULT 0,

  -- Cost, in millionths of a US dollar: a Gemini Flash query costs $0.0001, less than a cent,
  -- so the seed's integer cents cannot hold it exactly.
  total_cost_micro_usd BIGINT NOT NULL DEFAULT 0,

  -- Limits in force for the period (filled by the limits projection; NULL = tier default)
  queries_limit INTEGER,
  cost_limit_micro_usd BIGINT,

  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),

  UNIQUE (company_id, period_start, period_type)
);

CREATE INDEX idx_company_ai_usage_lookup
  ON company_ai_usage (company_id, period_type, period_start DESC);

-- Every usage increment ever counted, by its permanent idempotency key.
CREATE TABLE usage_records (
  idempotency_key TEXT PRIMARY KEY, -- "<request_id>:<meter>", NEVER reused
  company_id UUID NOT NULL,
  request_id UUID NOT NULL,
  meter TEXT NOT NULL,
  quantity_milli BIGINT NOT NULL,
  cost_micro_usd BIGINT NOT NULL,
  price_book_version INTEGER NOT NULL,
  occurred_at TIMESTAMPTZ NOT NULL,
  event_id UUID NOT NULL,
  -- where in the log it came from
  source_topic TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset BIGINT NOT NULL
);

CREATE INDEX idx_usage_records_company ON usage_records (company_id, occurred_at);

-- Where each projector is in each partition: the next offset to apply.
CREATE TABLE projector_offsets (
  projector TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (projector, topic, partition)
);

ALTER TABLE company_ai_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE company_ai_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON company_ai_usage
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_records
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON company_ai_usage, usage_records TO trestle_app;
GRANT SELECT, INSERT, UPDATE ON projector_offsets TO trestle_app;
