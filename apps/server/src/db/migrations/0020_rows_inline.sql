-- Keep a memory's or chunk's row whole when it fits a page (docs/decisions/0044-rows-inline.md).
--
-- With its vector inline (migrations 0007 and 0008) a row is over PostgreSQL's 2 kB TOAST
-- threshold, so the toaster moved every other long-able column out of line to shrink it: the
-- text, its tsvector, the metadata. A keyword score reads the tsvector once per query term, and
-- each read was a TOAST index lookup and a chunk fetch (two terms scored over a tenant's 901
-- memories: 3.7 ms, 1.1 ms in place). The rows were no smaller on their pages for it: three fit a
-- page either way. With toast_tuple_target at its maximum, the toaster starts only for a row that
-- does not fit a page.
-- Rows written from now on are stored whole; existing rows move when next rewritten.
ALTER TABLE memories SET (toast_tuple_target = 8160);
ALTER TABLE knowledge_chunks SET (toast_tuple_target = 8160);
