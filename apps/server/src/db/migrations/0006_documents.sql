-- Knowledge: uploaded documents, their raw bytes until indexed, ingestion jobs, and chunks with
-- vectors and full-text. Every table is tenant-scoped with the same row-level security as 0001.
-- The durable queue itself (pg-boss) lives in its own schema, created by `engram migrate`
-- (knowledge/ingest-queue.ts), and carries only ids: tenant data stays in these tables.
CREATE TABLE documents (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id text,
  agent_id text,
  collection text,
  filename text NOT NULL,
  media_type text NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  size_bytes bigint NOT NULL,
  content_sha256 bytea NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
  error text,
  page_count integer,
  chunk_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_tenant_id ON documents (tenant_id, id);
CREATE INDEX documents_tenant_status ON documents (tenant_id, status);

-- The upload's bytes, kept until the document is indexed (a retry re-reads them), then deleted.
CREATE TABLE document_contents (
  document_id text PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  content bytea NOT NULL
);

CREATE TABLE ingest_jobs (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  document_id text NOT NULL,
  -- queued → active → completed | failed (permanent reason) | dead (retries exhausted) | cancelled
  state text NOT NULL CHECK (state IN ('queued', 'active', 'completed', 'failed', 'dead', 'cancelled')),
  stage text,
  progress real NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  error text,
  queue_job_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX ingest_jobs_tenant_id ON ingest_jobs (tenant_id, id);
CREATE INDEX ingest_jobs_tenant_state ON ingest_jobs (tenant_id, state, id);

CREATE TABLE knowledge_chunks (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  document_id text NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  ordinal integer NOT NULL,
  text text NOT NULL,
  heading_path text[] NOT NULL DEFAULT '{}',
  -- The heading path as one string, for full-text (array_to_string is not immutable).
  headings text NOT NULL DEFAULT '',
  page integer,
  start_offset integer NOT NULL,
  end_offset integer NOT NULL,
  token_count integer NOT NULL,
  user_id text,
  agent_id text,
  collection text,
  embedding vector NOT NULL,
  embedding_model text NOT NULL,
  fts tsvector GENERATED ALWAYS AS (
    to_tsvector('english', headings || ' ' || text)
  ) STORED,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- A re-delivered job rewrites a document's chunks; it can never add a second copy.
  CONSTRAINT knowledge_chunks_position UNIQUE (document_id, ordinal)
);
CREATE INDEX knowledge_chunks_tenant ON knowledge_chunks (tenant_id, document_id);
CREATE INDEX knowledge_chunks_fts ON knowledge_chunks USING gin (fts);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['documents', 'document_contents', 'ingest_jobs', 'knowledge_chunks'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) '
      'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
  END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON documents, ingest_jobs, knowledge_chunks TO engram_app;
-- Bytes are written once and deleted; never updated.
GRANT SELECT, INSERT, DELETE ON document_contents TO engram_app;
