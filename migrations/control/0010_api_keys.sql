-- API keys of server-to-server callers (docs/ingest.md, "Credentials"): the `api_keys`
-- projection of ApiKeyIssued and ApiKeyRevoked on `tenants`, written where those events say
-- (trestle_apikeys::apply, by `trestle-admin keys` right after publishing), read through by
-- ingest with a short cache. Only the SHA-256 of a key's secret is stored; a presented key is
-- found by its public key_id and its secret compared in constant time.

CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY,
  company_id UUID NOT NULL,
  scopes TEXT[] NOT NULL,
  secret_sha256 TEXT NOT NULL,
  issued_at TIMESTAMPTZ NOT NULL,
  issued_by TEXT NOT NULL,
  -- The ApiKeyIssued event this row is (a re-applied one changes nothing).
  issued_event UUID NOT NULL,
  revoked_at TIMESTAMPTZ,
  revoked_event UUID
);

CREATE INDEX idx_api_keys_company ON api_keys (company_id);

GRANT SELECT, INSERT, UPDATE ON api_keys TO trestle_app;
