-- The control database: platform-wide projections (tenant routing, cloud-project pool, shard
-- health), folded from the log exactly once like the shards' projections.

-- Where each projector is in each partition: the next offset to apply.
CREATE TABLE projector_offsets (
  projector TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (projector, topic, partition)
);

GRANT SELECT, INSERT, UPDATE ON projector_offsets TO trestle_app;
