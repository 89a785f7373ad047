-- The cloud-project pool (the `pool` projection of `notebooks`, `ai-outcomes` and `tenants`):
-- notebooks per project against its limit, requests per provider per project per day.

-- One row per cloud project. The projection writes notebook_count (and region, once known);
-- notebook_limit and maintenance are the operator's (`trestle-admin project ...`) and the
-- projection never writes them, so a rebuild keeps them. status is derived, never stored apart.
CREATE TABLE cloud_projects (
  project_id TEXT PRIMARY KEY,
  region TEXT,
  notebook_limit INTEGER NOT NULL DEFAULT 50000,
  notebook_count INTEGER NOT NULL DEFAULT 0,
  maintenance BOOLEAN NOT NULL DEFAULT false,
  status TEXT GENERATED ALWAYS AS (
    CASE WHEN maintenance THEN 'maintenance'
         WHEN notebook_count >= notebook_limit THEN 'full'
         ELSE 'active' END
  ) STORED,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every notebook the pool has seen, by provider notebook id: counting is per notebook, so a
-- re-published NotebookCreated or NotebookArchived changes nothing the second time.
CREATE TABLE pool_notebooks (
  notebook_id TEXT PRIMARY KEY, -- NEVER reused by the provider
  cloud_project_id TEXT NOT NULL,
  live BOOLEAN NOT NULL,
  created_at TIMESTAMPTZ,
  archived_at TIMESTAMPTZ
);

-- Provider calls answered per project, provider and UTC day (AiRequestCompleted).
CREATE TABLE cloud_project_requests_daily (
  project_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  day DATE NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, day, provider)
);

-- Outcome event ids already counted, so a re-published outcome counts once. Rows older than
-- the dedup horizon may be deleted (docs/tenancy.md).
CREATE TABLE cloud_project_request_events (
  event_id UUID PRIMARY KEY,
  day DATE NOT NULL
);

CREATE INDEX idx_cloud_project_request_events_day ON cloud_project_request_events (day);

-- A batch's notebook transitions in one round trip, in log order. kinds[i] is +1 for a notebook
-- taking a place (NotebookCreated, NotebookRecreated: a new notebook id) and -1 for one freeing
-- it (NotebookArchived). A notebook counts at most once while live and frees its place at most
-- once; an archive of a notebook never seen leaves a tombstone (nothing to free). Returns how
-- many transitions changed a count.
CREATE FUNCTION apply_pool_notebooks(
  kinds INT4[], notebooks TEXT[], projects TEXT[], at TIMESTAMPTZ[]
) RETURNS BIGINT
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
  i INT;
  project TEXT;
  changed BIGINT := 0;
BEGIN
  FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
    project := NULL;
    IF kinds[i] > 0 THEN
      INSERT INTO pool_notebooks (notebook_id, cloud_project_id, live, created_at)
        VALUES (notebooks[i], projects[i], true, at[i])
        ON CONFLICT (notebook_id) DO NOTHING
        RETURNING cloud_project_id INTO project;
    ELSE
      UPDATE pool_notebooks SET live = false, archived_at = at[i]
        WHERE notebook_id = notebooks[i] AND live
        RETURNING cloud_project_id INTO project;
      IF project IS NULL THEN
        INSERT INTO pool_notebooks (notebook_id, cloud_project_id, live, archived_at)
          VALUES (notebooks[i], projects[i], false, at[i])
          ON CONFLICT (notebook_id) DO NOTHING;
      END IF;
    END IF;
    IF project IS NOT NULL THEN
      INSERT INTO cloud_projects AS p (project_id, notebook_count)
        VALUES (project, greatest(kinds[i], 0))
        ON CONFLICT (project_id) DO UPDATE
          SET notebook_count = greatest(p.notebook_count + kinds[i], 0), updated_at = now();
      changed := changed + 1;
    ELSE
      INSERT INTO cloud_projects (project_id) VALUES (projects[i])
        ON CONFLICT (project_id) DO NOTHING;
    END IF;
  END LOOP;
  RETURN changed;
END
$$;

REVOKE ALL ON FUNCTION apply_pool_notebooks FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apply_pool_notebooks TO trestle_app;

GRANT SELECT, INSERT, UPDATE ON cloud_projects, pool_notebooks, cloud_project_requests_daily
  TO trestle_app;
GRANT SELECT, INSERT, DELETE ON cloud_project_request_events TO trestle_app;
