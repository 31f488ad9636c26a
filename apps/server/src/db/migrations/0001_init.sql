-- Engram schema v1: tenants, keys, memories with vectors and full-text, history, idempotency.
-- Every tenant table has row-level security keyed on the transaction-local setting app.tenant_id.
CREATE EXTENSION IF NOT EXISTS vector;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'engram_app') THEN
    CREATE ROLE engram_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;

CREATE TABLE tenants (
  id text PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text,
  prefix text NOT NULL,
  key_hash bytea NOT NULL UNIQUE,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE memories (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id text,
  agent_id text,
  session_id text,
  memory text NOT NULL,
  role text,
  metadata jsonb NOT NULL DEFAULT '{}',
  content_hash bytea NOT NULL,
  occurred_at timestamptz,
  embedding vector NOT NULL,
  embedding_model text NOT NULL,
  embedding_dim integer NOT NULL,
  fts tsvector GENERATED ALWAYS AS (to_tsvector('english', memory)) STORED,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- exact-duplicate detection: same tenant, same scope, same normalized text
  CONSTRAINT memories_dedup UNIQUE NULLS NOT DISTINCT (tenant_id, user_id, agent_id, session_id, content_hash)
);
CREATE INDEX memories_tenant_user ON memories (tenant_id, user_id, id);
CREATE INDEX memories_tenant_agent ON memories (tenant_id, agent_id, id);
CREATE INDEX memories_tenant_session ON memories (tenant_id, session_id, id);
CREATE INDEX memories_tenant_id ON memories (tenant_id, id);
CREATE INDEX memories_fts ON memories USING gin (fts);
-- HNSW indexes are per embedding model (fixed dimension), created by ensureVectorIndex().

CREATE TABLE memory_history (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  memory_id text NOT NULL,
  event text NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE')),
  old_memory text,
  new_memory text,
  old_metadata jsonb,
  new_metadata jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_history_memory ON memory_history (tenant_id, memory_id, id);

CREATE TABLE idempotency_keys (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  key text NOT NULL,
  request_hash bytea NOT NULL,
  status integer NOT NULL,
  response jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);

-- Row-level security: no tenant context, no rows.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = current_setting('app.tenant_id', true))
  WITH CHECK (id = current_setting('app.tenant_id', true));

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['api_keys', 'memories', 'memory_history', 'idempotency_keys'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) '
      'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
  END LOOP;
END
$$;

-- History is append-only for the application.
GRANT SELECT, INSERT ON memory_history TO engram_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, api_keys, memories, idempotency_keys TO engram_app;

-- Authenticating a key happens before any tenant is known, so it cannot run under a tenant
-- context. This definer function is the one narrow path: hash in, (key, tenant, scopes) out.
CREATE FUNCTION engram_authenticate(p_hash bytea)
RETURNS TABLE (key_id text, tenant_id text, scopes text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT k.id, k.tenant_id, k.scopes FROM api_keys k
  WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION engram_authenticate(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engram_authenticate(bytea) TO engram_app;
