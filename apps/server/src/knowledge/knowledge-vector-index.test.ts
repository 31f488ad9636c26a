import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Database } from "../db/database.ts";
import { axis, TEST_MODEL, testDatabases } from "../testing/test-databases.ts";
import { type KnowledgeSearchRequest, knowledgeSearchSql } from "./knowledge-search-store.ts";

// The vector side of knowledge search orders chunks by distance under the model's HNSW index on
// knowledge_chunks (db/vector-index.ts), as memory search does on memories: scope, session and a
// metadata filter must leave it usable (they filter the scan). The statement EXPLAINed is the
// store's own; sequential scans are disabled so a plan that cannot use the index shows as such.

const base: KnowledgeSearchRequest = {
  projectId: "prj_x",
  scope: {},
  vector: axis(0),
  keywords: "",
  limit: 10,
  mode: "vector",
};

for (const backend of testDatabases) {
  describe(`knowledge search and the HNSW index on ${backend.name}`, () => {
    let db: Database;
    before(async () => {
      db = await backend.open();
    });
    after(() => db.close());

    const cases: [string, Partial<KnowledgeSearchRequest>][] = [
      ["no scope", {}],
      ["user and session (own or shared)", { scope: { userId: "u", sessionId: "s" } }],
      ["a metadata filter on the document", { filter: { lang: "en", year: { gte: 2020 } } }],
      [
        "everything, hybrid",
        {
          scope: { userId: "u", agentId: "a", sessionId: "s", collection: "c" },
          filter: { or: [{ lang: "en" }, { tags: { contains: "faq" } }] },
          keywords: "refund | policy",
          mode: "hybrid",
        },
      ],
    ];
    for (const [name, over] of cases) {
      test(`${name}: the nearest-neighbour scan uses the chunks' index`, async () => {
        const search = knowledgeSearchSql(TEST_MODEL, "ten_x", { ...base, ...over });
        assert.ok(search);
        const plan = await db.asOwner(async (tx) => {
          await tx.query("SET LOCAL enable_seqscan = off");
          // Literal parameters: EXPLAIN of a parameterised statement needs them bound.
          const sql = `EXPLAIN ${search.sql}`.replace(/\$(\d+)/g, (_, n) => {
            const value = search.params[Number(n) - 1];
            return `'${String(value).replaceAll("'", "''")}'`;
          });
          return tx.query<Record<string, string>>(sql);
        });
        const text = plan.map((r) => Object.values(r)[0]).join("\n");
        assert.match(text, /Index Scan using knowledge_chunks_hnsw_test_model_4_4/, text);
        if (over.scope?.sessionId) assert.match(text, /session_id/, text);
        // The document's metadata is looked up per chunk, in the scan's own filter (SubPlan).
        if (over.filter) assert.match(text, /Filter: .*COALESCE\(\(SubPlan \d+\), false\)/, text);
      });
    }
  });
}
