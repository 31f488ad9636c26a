-- Webhooks per project, their delivery log, and the quota notices already sent
-- (docs/decisions/0039-webhooks.md).

CREATE TABLE webhooks (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  url text NOT NULL,
  events text[] NOT NULL,
  -- whsec_…: kept as is (the server signs with it on every delivery); protected like the rest
  -- of the tenant's data, by row-level security and the database's own access control.
  secret text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_project ON webhooks (tenant_id, project_id, id);

-- One row per (event, webhook): the outbox written in the transaction of the change, and the
-- delivery log GET /v1/webhooks/{id}/deliveries reads.
CREATE TABLE webhook_deliveries (
  id text PRIMARY KEY,
  -- Commit order of the changes of one memory (their row locks serialise them): deliveries of an
  -- ordering key go out by seq, whichever of its queued jobs runs.
  seq bigint GENERATED ALWAYS AS IDENTITY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  -- The event's id (msg_…), sent as webhook-id: the same for every attempt and redelivery.
  event_id text NOT NULL,
  event_type text NOT NULL,
  -- What the deliveries of one webhook are ordered by (a memory's or a document's id).
  ordering_key text NOT NULL,
  payload jsonb NOT NULL,
  -- The end user a memory event is about: erasing that user erases these payloads too.
  user_id text,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  response_status integer,
  duration_ms integer,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz,
  delivered_at timestamptz
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (tenant_id, webhook_id, id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (tenant_id, webhook_id, ordering_key, seq)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_user ON webhook_deliveries (tenant_id, project_id, user_id)
  WHERE user_id IS NOT NULL;

-- A quota threshold (80 or 100 percent of a metric) is announced once per period.
CREATE TABLE quota_notices (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  period_start date NOT NULL,
  metric text NOT NULL,
  threshold integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, period_start, metric, threshold)
);

ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhooks
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE quota_notices ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_notices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quota_notices
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks, webhook_deliveries, quota_notices TO engram_app;
