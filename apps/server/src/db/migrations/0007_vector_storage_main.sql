-- Keep each memory's vector in its row (docs/decisions/0012-vector-storage-inline.md).
--
-- pgvector's type defaults to EXTERNAL storage, and a 512-d vector (2,056 bytes) is over the
-- 2 kB TOAST threshold, so every vector went out of line: reading a tenant's candidates cost a
-- heap fetch plus a TOAST index lookup and two chunk reads per row (at 1M memories that was most
-- of the search's database time). MAIN keeps it inline unless the row cannot fit a page at all.
-- Rows written from now on are stored inline; existing rows move when next rewritten.
ALTER TABLE memories ALTER COLUMN embedding SET STORAGE MAIN;
