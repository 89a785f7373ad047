-- The company record in its shard (the `companies` projection of the `tenants` topic; seed,
-- onboarding step 1: "company record in its shard with ai_config initialised from the tier
-- defaults"; docs/tenancy.md).
--
-- A shard's companies projector keeps the companies whose latest provisioning
-- (TenantProvisioned, by occurred_at) names this shard: a later provisioning naming another
-- shard (a tenant move) deletes the row here, and the other shard's projector writes it there.
-- Registration and provisioning are on the same `tenants` partition of the company, so every
-- shard's projector decides from the events alone; an older event never undoes a newer one.
--
-- company_tenancy is the projector's memory of `tenants`: every company's latest registration
-- and latest provisioning, whichever shard they name, so a company arriving here (provisioned
-- after its registration was read, or moved in) gets its full record. companies is what this
-- shard holds. Both are company-scoped: row-level security enabled and FORCED, written by
-- apply_companies_batch under each company's tenant setting.

CREATE TABLE company_tenancy (
  company_id UUID PRIMARY KEY,
  -- latest CompanyRegistered (NULL until one is read)
  name TEXT,
  tier TEXT,                -- NULL: unknown to this build (keeps what was stored)
  country TEXT,
  registered_region TEXT,
  requested_isolation TEXT, -- shared or dedicated, as asked for at sign-up
  registered_at TIMESTAMPTZ, -- occurred_at of the registration applied
  -- latest TenantProvisioned (NULL until one is read)
  database_shard INTEGER,
  cloud_project_id TEXT,
  provisioned_region TEXT,
  isolation_level TEXT,     -- what it got
  kb_notebook_id TEXT,
  provisioned_at TIMESTAMPTZ -- occurred_at of the provisioning applied
);

CREATE TABLE companies (
  company_id UUID PRIMARY KEY,
  name TEXT NOT NULL,
  tier TEXT NOT NULL,        -- 'unknown' only if no registration had a tier this build knows
  region TEXT NOT NULL,      -- the provisioned region, else the registered one
  country TEXT NOT NULL,     -- ISO 3166-1 alpha-2
  isolation TEXT NOT NULL,   -- shared or dedicated (provisioned, else asked for)
  cloud_project_id TEXT NOT NULL,
  database_shard INTEGER NOT NULL,
  kb_notebook_id TEXT NOT NULL, -- empty until AI initialisation creates the notebook
  -- The company's AI configuration, initialised from the tier table's defaults for its tier
  -- when the row is written first and again when its tier changes (never otherwise, so a
  -- later per-company setting is kept): {"requests_per_minute", "max_in_flight",
  -- "scheduler_weight", "monthly_price_micro_usd", "included_queries_per_month",
  -- "included_cost_micro_usd_per_month"}; a null limit is unlimited.
  ai_config JSONB NOT NULL,
  registered_at TIMESTAMPTZ NOT NULL,
  provisioned_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE company_tenancy ENABLE ROW LEVEL SECURITY;
ALTER TABLE company_tenancy FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON company_tenancy
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE companies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON companies
  USING (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid)
  WITH CHECK (company_id = NULLIF(current_setting('trestle.company_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON company_tenancy, companies TO trestle_app;

-- One round trip per batch. Arguments are parallel arrays, one entry per company of the batch
-- (its latest registration and latest provisioning in the batch; registered[i] or
-- provisioned[i] NULL when the batch has none). For each company it sets the tenant, folds the
-- events into company_tenancy (each only if not older than the one of its kind stored), then
-- writes or deletes the company's row of `companies`: present when both are known and the
-- provisioning names my_shard (NULL: every shard, for an unsharded database).
-- tier_defaults maps each tier symbol (and 'unknown') to its ai_config. SECURITY INVOKER:
-- row-level security applies as to any client. Returns how many events changed
-- company_tenancy (the rest were older than, or the same as, what was stored).
CREATE FUNCTION apply_companies_batch(
  my_shard INT4, tier_defaults JSONB, company_ids UUID[],
  names TEXT[], tiers TEXT[], countries TEXT[], registered_regions TEXT[],
  requested_isolations TEXT[], registered TIMESTAMPTZ[],
  shards INT4[], projects TEXT[], provisioned_regions TEXT[], isolation_levels TEXT[],
  notebooks TEXT[], provisioned TIMESTAMPTZ[]
) RETURNS BIGINT
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
  i INT;
  n INT;
  s RECORD;
  total BIGINT := 0;
BEGIN
  FOR i IN 1 .. coalesce(array_length(company_ids, 1), 0) LOOP
    PERFORM set_config('trestle.company_id', company_ids[i]::text, true);
    INSERT INTO company_tenancy (company_id) VALUES (company_ids[i]) ON CONFLICT DO NOTHING;
    IF registered[i] IS NOT NULL THEN
      UPDATE company_tenancy t SET
          name = names[i],
          tier = coalesce(tiers[i], t.tier),
          country = countries[i],
          registered_region = coalesce(registered_regions[i], t.registered_region),
          requested_isolation = coalesce(requested_isolations[i], t.requested_isolation),
          registered_at = registered[i]
        WHERE t.company_id = company_ids[i]
          AND (t.registered_at IS NULL OR registered[i] >= t.registered_at);
      GET DIAGNOSTICS n = ROW_COUNT;
      total := total + n;
    END IF;
    IF provisioned[i] IS NOT NULL THEN
      UPDATE company_tenancy t SET
          database_shard = shards[i],
          cloud_project_id = projects[i],
          provisioned_region = coalesce(provisioned_regions[i], t.provisioned_region),
          isolation_level = coalesce(isolation_levels[i], t.isolation_level),
          kb_notebook_id = notebooks[i],
          provisioned_at = provisioned[i]
        WHERE t.company_id = company_ids[i]
          AND (t.provisioned_at IS NULL OR provisioned[i] >= t.provisioned_at);
      GET DIAGNOSTICS n = ROW_COUNT;
      total := total + n;
    END IF;
    SELECT * INTO s FROM company_tenancy WHERE company_id = company_ids[i];
    IF s.registered_at IS NOT NULL AND s.provisioned_at IS NOT NULL
       AND (my_shard IS NULL OR s.database_shard = my_shard) THEN
      INSERT INTO companies AS c (company_id, name, tier, region, country, isolation,
          cloud_project_id, database_shard, kb_notebook_id, ai_config, registered_at,
          provisioned_at)
      VALUES (s.company_id, s.name, coalesce(s.tier, 'unknown'),
              coalesce(s.provisioned_region, s.registered_region, 'unknown'), s.country,
              coalesce(s.isolation_level, s.requested_isolation, 'shared'),
              s.cloud_project_id, s.database_shard, s.kb_notebook_id,
              tier_defaults -> coalesce(s.tier, 'unknown'), s.registered_at, s.provisioned_at)
      ON CONFLICT (company_id) DO UPDATE SET
          name = EXCLUDED.name,
          tier = EXCLUDED.tier,
          region = EXCLUDED.region,
          country = EXCLUDED.country,
          isolation = EXCLUDED.isolation,
          cloud_project_id = EXCLUDED.cloud_project_id,
          database_shard = EXCLUDED.database_shard,
          kb_notebook_id = EXCLUDED.kb_notebook_id,
          ai_config = CASE WHEN c.tier IS DISTINCT FROM EXCLUDED.tier
                           THEN EXCLUDED.ai_config ELSE c.ai_config END,
          registered_at = EXCLUDED.registered_at,
          provisioned_at = EXCLUDED.provisioned_at,
          updated_at = now();
    ELSE
      DELETE FROM companies WHERE company_id = company_ids[i];
    END IF;
  END LOOP;
  PERFORM set_config('trestle.company_id', '', true);
  RETURN total;
END
$$;

REVOKE ALL ON FUNCTION apply_companies_batch FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apply_companies_batch TO trestle_app;
