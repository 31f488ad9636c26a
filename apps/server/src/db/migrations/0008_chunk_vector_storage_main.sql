-- Knowledge chunks keep their vectors in the row, as memories do since 0007
-- (docs/decisions/0012-vector-storage-inline.md): a tenant's chunks are ranked by exact distance,
-- and an out-of-line vector costs TOAST lookups and chunk reads per candidate.
ALTER TABLE knowledge_chunks ALTER COLUMN embedding SET STORAGE MAIN;
