-- Shard health (docs/shard-health.md): per database shard and UTC minute, the AI requests'
-- outcomes and a latency sketch; and the company -> shard map this projection keeps for itself
-- (folded from the `tenants` topic; independent of any other routing table).
--
-- Platform-wide tables, read across companies by design: they hold counts and which shard a
-- company lives on, no tenant content, so they carry no row-level security.

-- Which shard each company's requests count under. -1: registered, not provisioned yet.
CREATE TABLE shard_health_companies (
  company_id UUID PRIMARY KEY,
  database_shard INTEGER NOT NULL,
  region TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX shard_health_companies_shard ON shard_health_companies (database_shard);

-- One row per shard and minute (by the outcome's occurred_at, truncated to the UTC minute).
-- requests = completed + failed + throttled + cached; limited counts the cached answers served
-- because the whole provider chain failed (a subset of cached). latency_sketch is a DDSketch
-- (services/trestle-projector/src/health/sketch.rs, version-1 encoding) of completed requests'
-- provider latency in ms; NULL when none completed. Rows older than a day are pruned by the
-- projection itself.
CREATE TABLE shard_health_minutes (
  database_shard INTEGER NOT NULL,
  minute TIMESTAMPTZ NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  completed BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  throttled BIGINT NOT NULL DEFAULT 0,
  cached BIGINT NOT NULL DEFAULT 0,
  limited BIGINT NOT NULL DEFAULT 0,
  latency_sketch BYTEA,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (database_shard, minute),
  CHECK (minute = date_trunc('minute', minute, 'UTC')),
  CHECK (requests = completed + failed + throttled + cached AND limited <= cached)
);
CREATE INDEX shard_health_minutes_minute ON shard_health_minutes (minute);

GRANT SELECT, INSERT, UPDATE ON shard_health_companies TO trestle_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON shard_health_minutes TO trestle_app;
