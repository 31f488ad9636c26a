import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { newId } from "../lib/ids.ts";
import { migrationBackends } from "../testing/test-databases.ts";
import { findIdempotentResponse, scopedIdempotency } from "./idempotency.ts";

// Migration 0010 on a database that has data from before it: documents, jobs and chunks go to the
// tenant's default project, keyword statistics are rebuilt per project, and stored
// Idempotency-Keys are rewritten so that a client retrying across the upgrade still gets its
// replay. Run as PGlite's superuser and as a PostgreSQL owner that is no superuser (FORCE RLS).
const hash = (s: string) => createHash("sha256").update(s).digest();

describe("migration 0010 moves existing knowledge, statistics and keys into projects", () => {
  for (const backend of migrationBackends) {
    test(backend.name, async () => {
      const { db, applyBefore, applyFrom, close } = await backend.open();
      try {
        await applyBefore("0010");
        const t = newId("ten");
        const main = newId("prj");
        const side = newId("prj");
        await db.withTenant(t, async (tx) => {
          await tx.query("INSERT INTO tenants (id, name) VALUES ($1, 't')", [t]);
          await tx.query(
            `INSERT INTO projects (id, tenant_id, name, is_default)
             VALUES ($1, $3, 'default', true), ($2, $3, 'side', false)`,
            [main, side, t],
          );
          // Memories in both projects, with the per-tenant statistics of before.
          await tx.query(
            `INSERT INTO memories (id, tenant_id, project_id, memory, content_hash, embedding,
               embedding_model, embedding_dim)
             SELECT 'mem_' || i, $1, p, m, sha256(m::bytea), '[1,0,0,0]', 'test-model-4', 4
             FROM unnest(ARRAY['cats purr', 'cats and dogs', 'dogs bark'], ARRAY[$2, $2, $3])
               WITH ORDINALITY AS x(m, p, i)`,
            [t, main, side],
          );
          await tx.query(
            `INSERT INTO memory_terms (tenant_id, lexeme, memory_id)
             SELECT m.tenant_id, l.lexeme, m.id FROM memories m, unnest(tsvector_to_array(m.fts)) AS l(lexeme)`,
          );
          await tx.query(
            `INSERT INTO memory_term_stats (tenant_id, lexeme, docs)
             SELECT tenant_id, lexeme, count(*) FROM memory_terms GROUP BY tenant_id, lexeme
             UNION ALL SELECT $1, '', 3`,
            [t],
          );
          // A document of before: no project.
          await tx.query(
            `INSERT INTO documents (id, tenant_id, filename, media_type, size_bytes, content_sha256, status)
             VALUES ('doc_1', $1, 'a.md', 'text/markdown', 5, $2, 'ready')`,
            [t, hash("hello")],
          );
          await tx.query(
            "INSERT INTO ingest_jobs (id, tenant_id, document_id, state) VALUES ('job_1', $1, 'doc_1', 'completed')",
            [t],
          );
          await tx.query(
            `INSERT INTO knowledge_chunks (id, tenant_id, document_id, ordinal, text, start_offset,
               end_offset, token_count, embedding, embedding_model)
             VALUES ('chk_1', $1, 'doc_1', 0, 'hello', 0, 5, 1, '[1,0,0,0]', 'test-model-4')`,
            [t],
          );
          // Idempotency records as 0005..0009 stored them.
          await tx.query(
            `INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response)
             VALUES ($1, $2 || ':k', $3, 201, '{"results":[]}'),
                    ($1, 'k', $4, 202, '{"document_id":"doc_1"}')`,
            [t, side, hash("memory request"), hash("upload request")],
          );
        });

        await applyFrom("0010");

        const rows = <T>(sql: string, params: unknown[] = []) =>
          db.withTenant(t, (tx) => tx.query<T>(sql, params));
        for (const table of ["documents", "ingest_jobs", "knowledge_chunks"]) {
          assert.deepEqual(
            await rows(`SELECT DISTINCT project_id FROM ${table}`),
            [{ project_id: main }],
            table,
          );
        }
        const stats = await rows<{ project_id: string; lexeme: string; docs: number }>(
          "SELECT project_id, lexeme, docs FROM memory_term_stats ORDER BY project_id, lexeme",
        );
        const of = (p: string) =>
          Object.fromEntries(
            stats.filter((s) => s.project_id === p).map((s) => [s.lexeme, s.docs]),
          );
        assert.deepEqual(of(main), { "": 2, cat: 2, dog: 1, purr: 1 });
        assert.deepEqual(of(side), { "": 1, bark: 1, dog: 1 });
        const postings = await rows<{ n: number }>(
          "SELECT count(*)::int AS n FROM memory_terms t JOIN memories m ON m.id = t.memory_id AND m.project_id = t.project_id",
        );
        assert.equal(postings[0]?.n, 6);

        // Both stored keys answer in their new namespaces, as the services now ask for them.
        const replay = (family: "memories" | "documents", project: string, request: string) =>
          db.withTenant(t, (tx) =>
            findIdempotentResponse(
              tx,
              t,
              scopedIdempotency({ key: "k", requestHash: hash(request) }, family, project, 86_400),
            ),
          );
        assert.deepEqual(await replay("memories", side, "memory request"), { results: [] });
        assert.deepEqual(await replay("documents", main, "upload request"), {
          document_id: "doc_1",
        });
        assert.equal(await replay("memories", main, "memory request"), undefined);
        assert.equal(await replay("documents", side, "upload request"), undefined);

        // Row-level security is forced again on every table the migration lifted it from.
        const forced = await db.asOwner((tx) =>
          tx.query<{ relname: string; relforcerowsecurity: boolean }>(
            "SELECT relname, relforcerowsecurity FROM pg_class WHERE relname = ANY($1) ORDER BY relname",
            [
              [
                "documents",
                "idempotency_keys",
                "ingest_jobs",
                "knowledge_chunks",
                "memories",
                "memory_term_stats",
                "memory_terms",
                "projects",
              ],
            ],
          ),
        );
        assert.equal(forced.length, 8);
        for (const r of forced) assert.ok(r.relforcerowsecurity, r.relname);
      } finally {
        await close();
      }
    });
  }
});
