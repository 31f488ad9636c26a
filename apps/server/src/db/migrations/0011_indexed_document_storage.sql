-- A document's chunk text and vectors count against the tenant's storage quota, like its upload
-- (docs/decisions/0020-isolated-document-parsing.md): indexed_bytes is what its chunks take, added
-- to tenant_usage.storage_bytes in the transaction that writes them and taken off when they go.

ALTER TABLE documents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE knowledge_chunks NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant_usage NO FORCE ROW LEVEL SECURITY;

ALTER TABLE documents ADD COLUMN indexed_bytes bigint NOT NULL DEFAULT 0;

-- Chunks that exist already: counted now, so deleting their document later balances.
UPDATE documents d SET indexed_bytes = c.bytes
FROM (
  SELECT document_id, sum(octet_length(text) + 4 * vector_dims(embedding))::bigint AS bytes
  FROM knowledge_chunks GROUP BY document_id
) c
WHERE c.document_id = d.id;
UPDATE tenant_usage u SET storage_bytes = u.storage_bytes + d.bytes
FROM (SELECT tenant_id, sum(indexed_bytes) AS bytes FROM documents GROUP BY tenant_id) d
WHERE d.tenant_id = u.tenant_id AND d.bytes > 0;

ALTER TABLE documents FORCE ROW LEVEL SECURITY;
ALTER TABLE knowledge_chunks FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant_usage FORCE ROW LEVEL SECURITY;
