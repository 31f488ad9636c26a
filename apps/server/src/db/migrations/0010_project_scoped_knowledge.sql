-- Projects isolate knowledge and keyword statistics as they isolate memories since 0005
-- (docs/decisions/0019-project-scoped-knowledge.md):
-- - documents, their ingestion jobs and their chunks belong to a project; existing ones go to the
--   tenant's default project (the only project that could have uploaded them knowingly);
-- - keyword postings and term statistics are kept per project, so a project's keyword scores
--   (IDF weights) say nothing about another project's memories;
-- - Idempotency-Keys are stored as `<route family>:<project>:<client key>`.
-- Every new key and index is led by tenant_id (distributable by tenant, as the rest of the schema).

-- The backfills read and write existing rows. These tables force row-level security on their
-- owner too, and on PostgreSQL the owner that migrates is no superuser, so it would see no row:
-- lift that for this transaction only (FORCE is restored at the end of this file).
ALTER TABLE projects NO FORCE ROW LEVEL SECURITY;
ALTER TABLE documents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE ingest_jobs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE knowledge_chunks NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memories NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_terms NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_term_stats NO FORCE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys NO FORCE ROW LEVEL SECURITY;

-- Documents and jobs: the default project. Lists page by id within a project.
ALTER TABLE documents ADD COLUMN project_id text;
UPDATE documents d SET project_id = p.id FROM projects p WHERE p.tenant_id = d.tenant_id AND p.is_default;
ALTER TABLE documents ALTER COLUMN project_id SET NOT NULL;
DROP INDEX documents_tenant_id;
CREATE INDEX documents_tenant_project_id ON documents (tenant_id, project_id, id);

ALTER TABLE ingest_jobs ADD COLUMN project_id text;
UPDATE ingest_jobs j SET project_id = p.id FROM projects p WHERE p.tenant_id = j.tenant_id AND p.is_default;
ALTER TABLE ingest_jobs ALTER COLUMN project_id SET NOT NULL;
DROP INDEX ingest_jobs_tenant_id;
DROP INDEX ingest_jobs_tenant_state;
CREATE INDEX ingest_jobs_tenant_project_id ON ingest_jobs (tenant_id, project_id, id);
CREATE INDEX ingest_jobs_tenant_project_state ON ingest_jobs (tenant_id, project_id, state, id);

-- Chunks carry their document's project, so a search reads one project's chunks only.
ALTER TABLE knowledge_chunks ADD COLUMN project_id text;
UPDATE knowledge_chunks c SET project_id = d.project_id FROM documents d WHERE d.id = c.document_id;
ALTER TABLE knowledge_chunks ALTER COLUMN project_id SET NOT NULL;
DROP INDEX knowledge_chunks_tenant;
CREATE INDEX knowledge_chunks_tenant_project ON knowledge_chunks (tenant_id, project_id, document_id);

-- Keyword postings and statistics per project, rebuilt from the memories as 0004 built them.
-- The '' row now counts a project's memories, and the writers' lock order ('' first) holds per
-- project: every memory write is within one project.
DELETE FROM memory_terms;
DELETE FROM memory_term_stats;
ALTER TABLE memory_terms ADD COLUMN project_id text NOT NULL;
ALTER TABLE memory_terms DROP CONSTRAINT memory_terms_pkey;
ALTER TABLE memory_terms ADD PRIMARY KEY (tenant_id, project_id, lexeme, memory_id);
ALTER TABLE memory_term_stats ADD COLUMN project_id text NOT NULL;
ALTER TABLE memory_term_stats DROP CONSTRAINT memory_term_stats_pkey;
ALTER TABLE memory_term_stats ADD PRIMARY KEY (tenant_id, project_id, lexeme);
DROP INDEX memory_term_stats_unused;
CREATE INDEX memory_term_stats_unused ON memory_term_stats (tenant_id, project_id) WHERE docs <= 0;

INSERT INTO memory_terms (tenant_id, project_id, lexeme, memory_id)
SELECT m.tenant_id, m.project_id, l.lexeme, m.id
FROM memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme);
INSERT INTO memory_term_stats (tenant_id, project_id, lexeme, docs)
SELECT tenant_id, project_id, lexeme, count(*) FROM memory_terms GROUP BY tenant_id, project_id, lexeme
UNION ALL
SELECT tenant_id, project_id, '', count(*) FROM memories GROUP BY tenant_id, project_id;

-- Idempotency-Keys: memory writes (stored with status 201) were `<project>:<key>`; uploads (202)
-- were the bare key, and their documents are now in the default project.
UPDATE idempotency_keys SET key = 'memories:' || key WHERE status = 201;
UPDATE idempotency_keys k SET key = 'documents:' || p.id || ':' || k.key
FROM projects p WHERE p.tenant_id = k.tenant_id AND p.is_default AND k.status = 202;

ALTER TABLE projects FORCE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
ALTER TABLE ingest_jobs FORCE ROW LEVEL SECURITY;
ALTER TABLE knowledge_chunks FORCE ROW LEVEL SECURITY;
ALTER TABLE memories FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_terms FORCE ROW LEVEL SECURITY;
ALTER TABLE memory_term_stats FORCE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
