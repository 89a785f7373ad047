-- Tenant routing (the `routing` projection of the `tenants` topic) and the shared decisions that
-- route each usage record to exactly one shard's usage projector.

-- company -> region, database shard, cloud project, isolation level, tier.
-- Registration columns (name, tier, registered_*) and provisioning columns (database_shard,
-- cloud_project_id, isolation_level, kb_notebook_id, provisioned_*) are written only by their
-- own event, each only by a newer one of its kind (occurred_at), so the row does not depend on
-- which of the two arrives first, nor on a re-published older event.
CREATE TABLE tenant_routing (
  company_id UUID PRIMARY KEY,
  -- the provisioned region once provisioned, the registered one before: derived, so it cannot
  -- depend on which event came first
  region TEXT GENERATED ALWAYS AS (coalesce(provisioned_region, registered_region)) STORED,
  registered_region TEXT,
  provisioned_region TEXT,
  database_shard INTEGER,
  cloud_project_id TEXT,
  isolation_level TEXT,
  kb_notebook_id TEXT,
  tier TEXT,
  name TEXT,
  registered_at TIMESTAMPTZ,  -- occurred_at of the registration applied
  provisioned_at TIMESTAMPTZ, -- occurred_at of the provisioning applied
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_tenant_routing_shard ON tenant_routing (database_shard);
CREATE INDEX idx_tenant_routing_project ON tenant_routing (cloud_project_id);

GRANT SELECT, INSERT, UPDATE ON tenant_routing TO trestle_app;

-- Which shard's usage projector applies each usage record, decided once and shared by all of
-- them (see docs/tenancy.md). Per (shard_count, company, usage partition), a run of epochs:
-- the records at offsets from_offset .. (next epoch's from_offset - 1) go to `shard`. A new
-- epoch only ever starts after the highest offset already decided (decided_to), so a decision,
-- once taken, never changes: whichever projector asks, before or after a crash, gets the same.
CREATE TABLE usage_shard_heads (
  shard_count INTEGER NOT NULL,
  company_id UUID NOT NULL,
  source_partition INTEGER NOT NULL,
  decided_to BIGINT NOT NULL, -- highest usage offset decided; -1: none
  PRIMARY KEY (shard_count, company_id, source_partition)
);

CREATE TABLE usage_shard_epochs (
  shard_count INTEGER NOT NULL,
  company_id UUID NOT NULL,
  source_partition INTEGER NOT NULL,
  from_offset BIGINT NOT NULL,
  shard INTEGER NOT NULL,
  provisioned_at TIMESTAMPTZ, -- the provisioning it follows; NULL: the default rule
  PRIMARY KEY (shard_count, company_id, source_partition, from_offset)
);

GRANT SELECT, INSERT, UPDATE ON usage_shard_heads, usage_shard_epochs TO trestle_app;

-- Decides a batch's usage records in one round trip. Arguments are parallel arrays, one entry
-- per (company, partition) of the batch, sorted by company then partition (rows are locked in
-- that order, so concurrent callers cannot deadlock): the highest offset of the batch, and the
-- shard the caller would route to now (its provisioned shard, or the default rule) with the
-- provisioning's occurred_at (NULL when it knows of none).
--
-- A caller's knowledge only moves the company to its provisioned shard from the next undecided
-- offset on, and only if that provisioning is newer than the one the current epoch follows; a
-- caller that knows nothing (or older) never moves it back. Returns every epoch of the given
-- keys starting at or below the batch's highest offset; the caller picks, for each record,
-- the epoch with the greatest from_offset <= its offset.
CREATE FUNCTION decide_usage_shards(
  n INT, companies UUID[], parts INT4[], lasts INT8[], wanted INT4[], provisioned TIMESTAMPTZ[]
) RETURNS TABLE (company_id UUID, source_partition INT, from_offset BIGINT, shard INT)
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
  i INT;
  done BIGINT;
  cur RECORD;
BEGIN
  FOR i IN 1 .. coalesce(array_length(companies, 1), 0) LOOP
    INSERT INTO usage_shard_heads AS h (shard_count, company_id, source_partition, decided_to)
      VALUES (n, companies[i], parts[i], -1)
      ON CONFLICT DO NOTHING;
    SELECT h.decided_to INTO done FROM usage_shard_heads h
      WHERE h.shard_count = n AND h.company_id = companies[i] AND h.source_partition = parts[i]
      FOR UPDATE;
    SELECT e.from_offset, e.shard, e.provisioned_at INTO cur FROM usage_shard_epochs e
      WHERE e.shard_count = n AND e.company_id = companies[i] AND e.source_partition = parts[i]
      ORDER BY e.from_offset DESC LIMIT 1;
    IF NOT FOUND THEN
      INSERT INTO usage_shard_epochs VALUES (n, companies[i], parts[i], 0, wanted[i], provisioned[i]);
    ELSIF provisioned[i] IS NOT NULL
          AND (cur.provisioned_at IS NULL OR provisioned[i] > cur.provisioned_at) THEN
      IF cur.from_offset > done THEN
        -- nothing was decided under the current epoch yet: it can still change
        UPDATE usage_shard_epochs e SET shard = wanted[i], provisioned_at = provisioned[i]
          WHERE e.shard_count = n AND e.company_id = companies[i]
            AND e.source_partition = parts[i] AND e.from_offset = cur.from_offset;
      ELSIF cur.shard <> wanted[i] THEN
        INSERT INTO usage_shard_epochs
          VALUES (n, companies[i], parts[i], done + 1, wanted[i], provisioned[i]);
      ELSE
        UPDATE usage_shard_epochs e SET provisioned_at = provisioned[i]
          WHERE e.shard_count = n AND e.company_id = companies[i]
            AND e.source_partition = parts[i] AND e.from_offset = cur.from_offset;
      END IF;
    END IF;
    UPDATE usage_shard_heads h SET decided_to = greatest(h.decided_to, lasts[i])
      WHERE h.shard_count = n AND h.company_id = companies[i] AND h.source_partition = parts[i];
    RETURN QUERY
      SELECT e.company_id, e.source_partition, e.from_offset, e.shard FROM usage_shard_epochs e
       WHERE e.shard_count = n AND e.company_id = companies[i] AND e.source_partition = parts[i]
         AND e.from_offset <= lasts[i];
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION decide_usage_shards FROM PUBLIC;
GRANT EXECUTE ON FUNCTION decide_usage_shards TO trestle_app;
