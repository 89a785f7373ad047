-- Roles and databases of the local Trestle stack.
--
-- One file for both ways of running the stack, so they cannot drift:
--   * compose/compose.yaml mounts this folder as /docker-entrypoint-initdb.d (run once, on
--     the first start of an empty volume, as the superuser `postgres`);
--   * compose/stack pipes it into psql as `postgres` on every `up`.
-- Hence it must stay idempotent and psql-only (\gexec), and create no tables: the services'
-- migrations create those, connected as trestle_owner.
\set ON_ERROR_STOP on

-- trestle_owner: owns the databases and runs the migrations.
SELECT 'CREATE ROLE trestle_owner'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'trestle_owner') \gexec
ALTER ROLE trestle_owner WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD 'trestle_owner';

-- trestle_app: what the services connect as; gets table privileges from the migrations.
SELECT 'CREATE ROLE trestle_app'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'trestle_app') \gexec
ALTER ROLE trestle_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD 'trestle_app';

-- The control database and two shards.
SELECT format('CREATE DATABASE %I OWNER trestle_owner ENCODING ''UTF8'' TEMPLATE template0', d)
  FROM unnest(ARRAY['trestle_control', 'trestle_shard_0', 'trestle_shard_1']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = d) \gexec

ALTER DATABASE trestle_control OWNER TO trestle_owner;
ALTER DATABASE trestle_shard_0 OWNER TO trestle_owner;
ALTER DATABASE trestle_shard_1 OWNER TO trestle_owner;
GRANT CONNECT, TEMPORARY ON DATABASE trestle_control, trestle_shard_0, trestle_shard_1
  TO trestle_owner, trestle_app;

-- pgvector (ai_embeddings in the shards). Not a trusted extension, so the superuser creates
-- it: in template1, so every database created later (the tests' own) has it, and in the
-- shards. The shard migration's CREATE EXTENSION IF NOT EXISTS then finds it there.
\c template1
CREATE EXTENSION IF NOT EXISTS vector;
\c trestle_shard_0
CREATE EXTENSION IF NOT EXISTS vector;
\c trestle_shard_1
CREATE EXTENSION IF NOT EXISTS vector;
