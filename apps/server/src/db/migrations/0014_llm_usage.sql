-- LLM cost (docs/decisions/0026-llm-cost-and-budgets.md): every call the LLM inference engine
-- makes for a tenant, written in the transaction of the write it served (with its usage event).
-- Cost is kept in integer micro-dollars (1 USD = 1,000,000), so sums are exact. The period's spend
-- is also counted in usage_counters (metric 'llm_cost_micro_usd'), so the budget check before
-- inference reads one row.

CREATE TABLE llm_calls (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL,
  key_id text,
  request_id text NOT NULL,
  -- The write it served (e.g. memory.add) and its position among that write's calls: the same
  -- request recording the same call twice is a no-op.
  operation text NOT NULL,
  seq integer NOT NULL CHECK (seq >= 0),
  model text NOT NULL,
  purpose text NOT NULL,
  tokens_in integer NOT NULL CHECK (tokens_in >= 0),
  tokens_out integer NOT NULL CHECK (tokens_out >= 0),
  latency_ms integer NOT NULL CHECK (latency_ms >= 0),
  cost_micro_usd bigint NOT NULL CHECK (cost_micro_usd >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, request_id, operation, seq)
);
-- The usage view sums a tenant's calls of one period.
CREATE INDEX llm_calls_tenant_time ON llm_calls (tenant_id, created_at);

ALTER TABLE llm_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llm_calls
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Append-only for the application, like usage events.
GRANT SELECT, INSERT ON llm_calls TO engram_app;
