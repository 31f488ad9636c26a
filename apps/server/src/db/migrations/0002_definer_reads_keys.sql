-- engram_authenticate() is SECURITY DEFINER: it runs as its owner, the role that ran 0001. FORCE
-- ROW LEVEL SECURITY applies to a table's owner too, and with no tenant context tenant_isolation
-- shows it no key, so on PostgreSQL (where the owner is not a superuser) no key would ever
-- authenticate. PGlite migrates as a superuser, which bypasses row-level security.
--
-- This policy lets that one role read api_keys. Policies are permissive (OR-ed), but this one
-- names only the function's owner, so the application role still sees no key without a tenant
-- context and crosses tenants only through the function's narrow (hash in, key out) interface.
DO $$
DECLARE definer name := (
  SELECT pg_get_userbyid(proowner) FROM pg_proc
  WHERE oid = 'engram_authenticate(bytea)'::regprocedure
);
BEGIN
  -- The policy covers members of the definer role too: the application role must not be one.
  IF pg_has_role('engram_app', definer, 'MEMBER') THEN
    RAISE EXCEPTION 'engram_app must not be (or be a member of) the schema owner %: run migrations as a separate owner role', definer;
  END IF;
  EXECUTE format(
    'CREATE POLICY definer_reads_keys ON api_keys FOR SELECT TO %I USING (true)', definer);
END
$$;

-- `engram serve` in cluster mode cannot migrate; it reads this to check that the schema is current.
GRANT SELECT ON schema_migrations TO engram_app;
