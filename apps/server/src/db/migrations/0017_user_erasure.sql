-- Erasure of an end user (docs/decisions/0030-user-erasure.md) and knowledge scoped by session.
--
-- - History rows name their memory's user, so an erasure finds the history of memories deleted
--   earlier (a bulk delete keeps history as an audit trail); rows already orphaned by a delete
--   before this migration cannot be attributed and keep a null user.
-- - History stays append-only for the application: the one delete of history rows is a narrow
--   definer function that erases one user of one project, in the caller's tenant only; the same
--   for the audit log, whose rows naming the user are redacted, not deleted.
-- - user_erasures keeps each erasure's receipt (counts per table) with a salted hash of the user
--   id, never the id itself; erasure_salts holds each tenant's salt (HMAC-SHA256 key).
-- - Documents and their chunks may belong to a session (session_id), like memories.

-- The backfill reads and writes existing rows. These tables force row-level security on their
-- owner too, and on PostgreSQL the owner that migrates is no superuser, so it would see no row:
-- lift that for this transaction only (FORCE is restored below).
ALTER TABLE memories NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_history NO FORCE ROW LEVEL SECURITY;

ALTER TABLE memory_history ADD COLUMN user_id text;
UPDATE memory_history h SET user_id = m.user_id
FROM memories m
WHERE m.tenant_id = h.tenant_id AND m.id = h.memory_id AND m.user_id IS NOT NULL;
CREATE INDEX memory_history_user ON memory_history (tenant_id, project_id, user_id)
  WHERE user_id IS NOT NULL;

ALTER TABLE memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_history FORCE ROW LEVEL SECURITY;

-- Erasure looks documents up by user (listings by user use it too).
CREATE INDEX documents_tenant_project_user ON documents (tenant_id, project_id, user_id)
  WHERE user_id IS NOT NULL;

-- Sessions: a document (and so each of its chunks) may belong to one; search with a session_id
-- finds that session's chunks and those of no session (ADR 0030).
ALTER TABLE documents ADD COLUMN session_id text;
ALTER TABLE knowledge_chunks ADD COLUMN session_id text;

CREATE TABLE erasure_salts (
  tenant_id text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  salt bytea NOT NULL CHECK (octet_length(salt) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_erasures (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  -- HMAC-SHA256 of the user id under the tenant's salt: proves the erasure of a given id without
  -- keeping a list of the ids erased.
  user_hash bytea NOT NULL,
  -- {table: rows removed}; never a value of the user's rows.
  removed jsonb NOT NULL,
  actor text NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_erasures_user ON user_erasures (tenant_id, project_id, user_hash, id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['erasure_salts', 'user_erasures'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) '
      'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
  END LOOP;
END
$$;

-- A salt is written once; receipts are append-only.
GRANT SELECT, INSERT ON erasure_salts, user_erasures TO engram_app;

-- The one way the application removes history rows: those of one user of one project, in the
-- tenant of the calling transaction (app.tenant_id; the explicit predicate also holds where the
-- owner bypasses row-level security, as PGlite's superuser does). Returns how many.
CREATE FUNCTION engram_erase_user_history(p_project_id text, p_user_id text)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH gone AS (
    DELETE FROM memory_history
    WHERE tenant_id = current_setting('app.tenant_id', true)
      AND project_id = p_project_id AND user_id = p_user_id
    RETURNING 1
  )
  SELECT count(*)::integer FROM gone
$$;

-- Audit rows that name a user of a project in their details (a bulk delete by user_id) keep
-- what was done and by whom; the user id becomes null and the erasure's id is added.
CREATE FUNCTION engram_redact_user_audit(p_project_id text, p_user_id text, p_erasure_id text)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH redacted AS (
    UPDATE audit_events
    SET details = details || jsonb_build_object('user_id', NULL, 'erasure_id', p_erasure_id)
    WHERE tenant_id = current_setting('app.tenant_id', true)
      AND details ->> 'project_id' = p_project_id AND details ->> 'user_id' = p_user_id
    RETURNING 1
  )
  SELECT count(*)::integer FROM redacted
$$;

REVOKE ALL ON FUNCTION engram_erase_user_history(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engram_redact_user_audit(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engram_erase_user_history(text, text) TO engram_app;
GRANT EXECUTE ON FUNCTION engram_redact_user_audit(text, text, text) TO engram_app;
