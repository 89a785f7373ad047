-- What a shard's usage projector knows of tenant routing: each company's latest provisioning,
-- folded from the `tenants` topic in the same transaction as the usage it routes. Platform
-- data (which shard a company lives in), not the tenant's own data, so no row-level security:
-- like projector_offsets, it is read across companies by the projector.

CREATE TABLE usage_routing (
  company_id UUID PRIMARY KEY,
  database_shard INTEGER NOT NULL,
  provisioned_at TIMESTAMPTZ NOT NULL -- occurred_at of the provisioning applied
);

GRANT SELECT, INSERT, UPDATE ON usage_routing TO trestle_app;
