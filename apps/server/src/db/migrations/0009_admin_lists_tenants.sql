-- The platform admin lists tenants. Row-level security hides every tenant from the application
-- role without a tenant context, so, as for key authentication (0001, 0005), one narrow definer
-- function reads across tenants: a page of tenant rows, newest first, after a cursor.
CREATE FUNCTION engram_list_tenants(p_before text, p_limit integer)
RETURNS TABLE (
  id text, name text, plan text, overrides jsonb, suspended_at timestamptz,
  suspended_reason text, created_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT t.id, t.name, t.plan, t.overrides, t.suspended_at, t.suspended_reason, t.created_at
  FROM tenants t
  WHERE p_before IS NULL OR t.id < p_before
  ORDER BY t.id DESC
  LIMIT least(greatest(p_limit, 1), 101)
$$;
REVOKE ALL ON FUNCTION engram_list_tenants(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engram_list_tenants(text, integer) TO engram_app;
