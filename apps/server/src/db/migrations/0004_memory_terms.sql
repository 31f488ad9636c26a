-- Keyword ranking (docs/decisions/0004-hybrid-ranking.md): per-tenant term statistics for IDF
-- weights, and postings through which an unscoped search finds keyword candidates.
--
-- Why postings when memories.fts has a GIN index: the application role works under row-level
-- security, and PostgreSQL only uses a predicate as an index condition on such a table if its
-- operator is leakproof. tsvector @@ tsquery is not, so with RLS the GIN index is never used and
-- every keyword search scanned the whole memories table (every tenant's rows). Postings are
-- looked up with = on text, which is leakproof, through a B-tree led by tenant_id. (The GIN index
-- memories_fts therefore serves no application query; it stays for now because the cluster
-- benchmark's seeding rebuilds it by name.)
--
-- Both tables are maintained by the memory store in the transaction that inserts, re-texts or
-- deletes memories, and filled here for the memories that exist already.

-- One row per (memory, distinct lexeme of its text): the memory's to_tsvector('english', memory).
CREATE TABLE memory_terms (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  lexeme text NOT NULL,
  memory_id text NOT NULL,
  PRIMARY KEY (tenant_id, lexeme, memory_id)
);

-- Document frequency of each lexeme among the tenant's memories; the row with lexeme '' (never a
-- lexeme: tsvector has no empty lexemes) counts the tenant's memories. Writers upsert these rows
-- in lexeme order, so '' first: it serialises the statistics part of concurrent writes in one
-- tenant and rules out deadlocks between them. Rows that drop to 0 are deleted.
CREATE TABLE memory_term_stats (
  tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  lexeme text NOT NULL,
  docs integer NOT NULL,
  PRIMARY KEY (tenant_id, lexeme)
);
CREATE INDEX memory_term_stats_unused ON memory_term_stats (tenant_id) WHERE docs <= 0;

-- Backfill. memories forces row-level security on its owner too, and on PostgreSQL the owner
-- that migrates is no superuser, so it would see no row: lift that for this transaction only.
ALTER TABLE memories NO FORCE ROW LEVEL SECURITY;
INSERT INTO memory_terms (tenant_id, lexeme, memory_id)
SELECT m.tenant_id, l.lexeme, m.id
FROM memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme);
INSERT INTO memory_term_stats (tenant_id, lexeme, docs)
SELECT tenant_id, lexeme, count(*) FROM memory_terms GROUP BY tenant_id, lexeme
UNION ALL
SELECT tenant_id, '', count(*) FROM memories GROUP BY tenant_id;
ALTER TABLE memories FORCE ROW LEVEL SECURITY;

ALTER TABLE memory_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memory_terms
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE memory_term_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory_term_stats FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memory_term_stats
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON memory_terms, memory_term_stats TO engram_app;
