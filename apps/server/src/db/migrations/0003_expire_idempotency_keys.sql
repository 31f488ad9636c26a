-- Idempotency-Key records expire (ENGRAM_IDEMPOTENCY_TTL_S). Requests already treat an older
-- record as absent; `engram worker` (or `engram serve` in embedded mode) deletes them. The
-- application role sees idempotency rows only under a tenant context, and the worker serves no
-- tenant, so, as for engram_authenticate(), one narrow SECURITY DEFINER function crosses tenants:
-- an age and a batch size in, the number of rows deleted out. Nothing else is readable through it.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE FUNCTION engram_expire_idempotency_keys(p_max_age_s integer, p_limit integer)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH deleted AS (
    DELETE FROM idempotency_keys k
    WHERE (k.tenant_id, k.key) IN (
      SELECT tenant_id, key FROM idempotency_keys
      WHERE created_at < now() - make_interval(secs => p_max_age_s)
      ORDER BY created_at
      LIMIT p_limit
    )
    -- Checked again on the row as it is now: a request may have just reused an expired key.
    AND k.created_at < now() - make_interval(secs => p_max_age_s)
    RETURNING 1
  )
  SELECT count(*)::integer FROM deleted
$$;
REVOKE ALL ON FUNCTION engram_expire_idempotency_keys(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engram_expire_idempotency_keys(integer, integer) TO engram_app;

-- As in 0002: FORCE ROW LEVEL SECURITY applies to the function's owner too, and on PostgreSQL
-- (where it is no superuser) it would see and delete nothing. These policies let that one role
-- read (for the WHERE clause) and delete idempotency rows; the application role, which must not
-- be a member of it, still sees none without a tenant context. PGlite migrates as a superuser,
-- which bypasses row-level security; the policies are harmless there.
DO $$
DECLARE definer name := (
  SELECT pg_get_userbyid(proowner) FROM pg_proc
  WHERE oid = 'engram_expire_idempotency_keys(integer, integer)'::regprocedure
);
BEGIN
  IF pg_has_role('engram_app', definer, 'MEMBER') THEN
    RAISE EXCEPTION 'engram_app must not be (or be a member of) the schema owner %: run migrations as a separate owner role', definer;
  END IF;
  EXECUTE format(
    'CREATE POLICY definer_reads_idempotency ON idempotency_keys FOR SELECT TO %I USING (true)',
    definer);
  EXECUTE format(
    'CREATE POLICY definer_expires_idempotency ON idempotency_keys FOR DELETE TO %I USING (true)',
    definer);
END
$$;
