-- Memory that remembers (docs/decisions/0023-inference-and-validity.md): every memory has a
-- validity interval [valid_from, valid_to), a successor when a newer fact superseded it, the
-- categories inference gave it and the messages it came from (provenance). History records every
-- inference decision, NOOP included, with its reason, the source messages and the related memory.

ALTER TABLE memories NO FORCE ROW LEVEL SECURITY;

ALTER TABLE memories
  ADD COLUMN valid_from timestamptz,
  ADD COLUMN valid_to timestamptz,
  ADD COLUMN superseded_by text,
  ADD COLUMN categories text[] NOT NULL DEFAULT '{}',
  ADD COLUMN sources jsonb NOT NULL DEFAULT '[]',
  -- A single-valued attribute the memory states (e.g. subject "alice", key "lives_in"): a new
  -- value for the same subject and key in the same scope supersedes it.
  ADD COLUMN attribute_subject text,
  ADD COLUMN attribute_key text;

UPDATE memories SET valid_from = coalesce(occurred_at, created_at);
ALTER TABLE memories ALTER COLUMN valid_from SET NOT NULL, ALTER COLUMN valid_from SET DEFAULT now();

-- Exact duplicates are refused among current memories only: a superseded text may come back
-- (someone moves back to a city they lived in).
ALTER TABLE memories DROP CONSTRAINT memories_dedup;
CREATE UNIQUE INDEX memories_dedup ON memories
  (tenant_id, project_id, user_id, agent_id, session_id, content_hash) NULLS NOT DISTINCT
  WHERE valid_to IS NULL;

-- The current holder of an attribute in a scope is looked up by its subject and key.
CREATE INDEX memories_attribute ON memories (tenant_id, project_id, attribute_key, attribute_subject)
  WHERE attribute_key IS NOT NULL AND valid_to IS NULL;

ALTER TABLE memories FORCE ROW LEVEL SECURITY;

ALTER TABLE memory_history DROP CONSTRAINT memory_history_event_check;
ALTER TABLE memory_history
  ADD CONSTRAINT memory_history_event_check CHECK (event IN ('ADD', 'UPDATE', 'DELETE', 'NOOP')),
  ADD COLUMN reason text,
  ADD COLUMN related_memory_id text,
  ADD COLUMN sources jsonb,
  ADD COLUMN engine text CHECK (engine IN ('local', 'llm'));
