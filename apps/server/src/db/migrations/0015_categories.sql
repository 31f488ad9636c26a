-- Categories a project files its inferred memories under (docs/decisions/0028-categories.md): one
-- row per project that set its own list; a project without a row uses the shipped defaults
-- (categories/default-categories.ts), and a row with an empty list means no categories.
CREATE TABLE project_categories (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  -- [{name, description}, …] in the order given; the service validates names and lengths.
  categories jsonb NOT NULL
    CHECK (jsonb_typeof(categories) = 'array' AND jsonb_array_length(categories) <= 50),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, project_id)
);

ALTER TABLE project_categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE project_categories FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON project_categories
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON project_categories TO engram_app;
