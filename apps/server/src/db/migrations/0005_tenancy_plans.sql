-- Tenancy and plans (docs/decisions/0011-plans-quotas-metering.md): projects, scoped keys with
-- expiry, plans and per-tenant overrides, suspension, atomic quota counters, idempotent usage
-- events, and an append-only audit log. Every tenant table keeps ENABLE + FORCE row-level security.

-- The backfills below read and write existing rows. These tables force row-level security on
-- their owner too, and on PostgreSQL the owner that migrates is no superuser, so it would see no
-- row: lift that for this transaction only (FORCE is restored at the end of this file).
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memories NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_history NO FORCE ROW LEVEL SECURITY;

-- Tenants: plan, overrides and suspension.
ALTER TABLE tenants
  ADD COLUMN plan text NOT NULL DEFAULT 'developer',
  ADD COLUMN overrides jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN suspended_at timestamptz,
  ADD COLUMN suspended_reason text;

-- Projects: a tenant has a default project; plans that allow it may have more.
CREATE TABLE projects (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  is_default boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
CREATE UNIQUE INDEX projects_one_default ON projects (tenant_id) WHERE is_default;

INSERT INTO projects (id, tenant_id, name, is_default)
SELECT 'prj_' || substr(t.id, 5), t.id, 'default', true FROM tenants t;

-- Keys belong to a project, may expire.
ALTER TABLE api_keys
  ADD COLUMN project_id text REFERENCES projects (id) ON DELETE CASCADE,
  ADD COLUMN expires_at timestamptz;
UPDATE api_keys k SET project_id = p.id FROM projects p WHERE p.tenant_id = k.tenant_id AND p.is_default;
ALTER TABLE api_keys ALTER COLUMN project_id SET NOT NULL;

-- Memories (and their history) belong to a project; exact duplicates are per project.
ALTER TABLE memories ADD COLUMN project_id text;
UPDATE memories m SET project_id = p.id FROM projects p WHERE p.tenant_id = m.tenant_id AND p.is_default;
ALTER TABLE memories ALTER COLUMN project_id SET NOT NULL;
ALTER TABLE memories DROP CONSTRAINT memories_dedup;
ALTER TABLE memories ADD CONSTRAINT memories_dedup
  UNIQUE NULLS NOT DISTINCT (tenant_id, project_id, user_id, agent_id, session_id, content_hash);

ALTER TABLE memory_history ADD COLUMN project_id text;
UPDATE memory_history h SET project_id = p.id FROM projects p WHERE p.tenant_id = h.tenant_id AND p.is_default;
ALTER TABLE memory_history ALTER COLUMN project_id SET NOT NULL;

-- Gauges that quotas check: maintained in the transaction of every write that changes them.
CREATE TABLE tenant_usage (
  tenant_id text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  active_memories bigint NOT NULL DEFAULT 0,
  storage_bytes bigint NOT NULL DEFAULT 0
);
INSERT INTO tenant_usage (tenant_id, active_memories, storage_bytes)
SELECT t.id, count(m.id),
       coalesce(sum(octet_length(m.memory) + octet_length(m.metadata::text) + 4 * m.embedding_dim), 0)
FROM tenants t LEFT JOIN memories m ON m.tenant_id = t.id
GROUP BY t.id;

-- Counted metrics per billing period (calendar month, UTC); quota checks update these atomically.
CREATE TABLE usage_counters (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  period_start date NOT NULL,
  metric text NOT NULL,
  used bigint NOT NULL,
  PRIMARY KEY (tenant_id, period_start, metric)
);

-- One event per billable operation, written in the operation's transaction; event_key makes a
-- repeated write of the same event a no-op.
CREATE TABLE usage_events (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL,
  key_id text,
  event_key text NOT NULL,
  metric text NOT NULL,
  quantity bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, event_key)
);

-- Append-only audit log per tenant.
CREATE TABLE audit_events (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  actor text NOT NULL,
  action text NOT NULL,
  target_id text,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);

ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_history FORCE ROW LEVEL SECURITY;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['projects', 'tenant_usage', 'usage_counters', 'usage_events', 'audit_events'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) '
      'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
  END LOOP;
END
$$;

-- Platform-level record of deleted tenants (their own rows, audit included, are gone): no tenant
-- data, only the tenant id and the receipt. Read by the platform admin only.
CREATE TABLE tenant_deletions (
  tenant_id text PRIMARY KEY,
  receipt jsonb NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tenant_usage, usage_counters TO engram_app;
-- Usage events, audit rows and deletion records are append-only for the application.
GRANT SELECT, INSERT ON usage_events, audit_events, tenant_deletions TO engram_app;

-- Authentication now also returns the key's project, expiry and last use, and the tenant's plan,
-- overrides and suspension, in the one definer call made before any tenant context exists.
DROP FUNCTION engram_authenticate(bytea);
CREATE FUNCTION engram_authenticate(p_hash bytea)
RETURNS TABLE (
  key_id text, tenant_id text, project_id text, scopes text[], expires_at timestamptz,
  last_used_at timestamptz, plan text, overrides jsonb, suspended_at timestamptz,
  suspended_reason text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT k.id, k.tenant_id, k.project_id, k.scopes, k.expires_at, k.last_used_at,
         t.plan, t.overrides, t.suspended_at, t.suspended_reason
  FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
  WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION engram_authenticate(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engram_authenticate(bytea) TO engram_app;

-- The definer reads the key's tenant too (see 0002 for why it needs its own policy).
DO $$
DECLARE definer name := (
  SELECT pg_get_userbyid(proowner) FROM pg_proc
  WHERE oid = 'engram_authenticate(bytea)'::regprocedure
);
BEGIN
  EXECUTE format(
    'CREATE POLICY definer_reads_tenants ON tenants FOR SELECT TO %I USING (true)', definer);
END
$$;
