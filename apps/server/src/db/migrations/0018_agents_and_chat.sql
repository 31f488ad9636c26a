-- Agents, their conversations and messages (docs/decisions/0034-agents-and-chat.md).

CREATE TABLE agents (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  instructions text NOT NULL DEFAULT '',
  greeting text,
  -- {collections: [..] | null}, {read, write}: validated by the contract.
  knowledge jsonb NOT NULL DEFAULT '{"collections": null}',
  memory jsonb NOT NULL DEFAULT '{"read": true, "write": false}',
  model text,
  allowed_origins text[] NOT NULL DEFAULT '{}',
  -- pk_…: public by design (the widget ships it), so kept as is; it only reaches this agent's
  -- public config and chat, from allowed_origins.
  publishable_key text NOT NULL UNIQUE,
  -- Bumped by every change: cached answers are keyed by it.
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_project ON agents (tenant_id, project_id, id);

CREATE TABLE conversations (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  agent_id text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  user_id text,
  message_count integer NOT NULL DEFAULT 0,
  tokens_in bigint NOT NULL DEFAULT 0,
  tokens_out bigint NOT NULL DEFAULT 0,
  cost_micro_usd bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_agent ON conversations (tenant_id, project_id, agent_id, id);
CREATE INDEX conversations_user ON conversations (tenant_id, project_id, user_id, id);

CREATE TABLE chat_messages (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('user', 'assistant')),
  text text NOT NULL,
  citations jsonb NOT NULL DEFAULT '[]',
  mode text CHECK (mode IN ('llm', 'extractive')),
  cached boolean NOT NULL DEFAULT false,
  terminated boolean NOT NULL DEFAULT false,
  tokens_in integer NOT NULL DEFAULT 0,
  tokens_out integer NOT NULL DEFAULT 0,
  cost_micro_usd bigint NOT NULL DEFAULT 0,
  -- The primary model failed and the fallback answered; time to the first token (answers only).
  fallback boolean NOT NULL DEFAULT false,
  ttft_ms integer,
  feedback_rating text CHECK (feedback_rating IN ('up', 'down')),
  feedback_comment text,
  feedback_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_conversation ON chat_messages (tenant_id, conversation_id, id);
-- The tenant's chat usage of a period (GET /v1/usage).
CREATE INDEX chat_messages_answers ON chat_messages (tenant_id, created_at) WHERE role = 'assistant';

ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversations
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE chat_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chat_messages
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON agents, conversations, chat_messages TO engram_app;

-- A publishable key is presented before any tenant is known (the widget's requests): this definer
-- function is the one narrow path, key in, (agent, its tenant's plan and state) out, as
-- engram_authenticate is for API keys (0001, 0002; the definer already reads tenants).
CREATE FUNCTION engram_agent_by_publishable_key(p_key text)
RETURNS TABLE (agent_id text, tenant_id text, project_id text, allowed_origins text[],
               plan text, overrides jsonb, suspended_at timestamptz, suspended_reason text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT a.id, a.tenant_id, a.project_id, a.allowed_origins,
         t.plan, t.overrides, t.suspended_at, t.suspended_reason
  FROM agents a JOIN tenants t ON t.id = a.tenant_id
  WHERE a.publishable_key = p_key
$$;
REVOKE ALL ON FUNCTION engram_agent_by_publishable_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engram_agent_by_publishable_key(text) TO engram_app;

DO $$
DECLARE definer name := (
  SELECT pg_get_userbyid(proowner) FROM pg_proc
  WHERE oid = 'engram_agent_by_publishable_key(text)'::regprocedure
);
BEGIN
  EXECUTE format(
    'CREATE POLICY definer_reads_agents ON agents FOR SELECT TO %I USING (true)', definer);
END
$$;
