-- Asynchronous adds (docs/decisions/0027-async-adds.md): `async: true` on POST /v1/memories and
-- /v1/memories/batch stores the request here (status queued) and enqueues its id on the durable
-- queue in the same transaction; a worker runs the add and records its results or its problem.
-- The queue (pg-boss, its own schema) carries only ids: the request stays in this table.
CREATE TABLE memory_events (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  -- The key that asked (usage events name it); null when the key row is gone.
  key_id text,
  operation text NOT NULL CHECK (operation IN ('memory.add', 'memory.batch_add')),
  -- The validated body, without `async`: what the worker adds.
  request jsonb NOT NULL,
  -- queued → running → succeeded | failed; running again when a crashed attempt is retried.
  status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  results jsonb,
  inference jsonb,
  -- {code, detail, field?}: the problem the add ended with.
  error jsonb,
  attempts integer NOT NULL DEFAULT 0,
  queue_job_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_events_tenant_project ON memory_events (tenant_id, project_id, id);

ALTER TABLE memory_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memory_events
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON memory_events TO engram_app;
